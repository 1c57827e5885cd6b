package dev.loraworkbench.trainer.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ByteSizesTest {
    @Test
    void decimalUnitsAsHuggingFaceWritesThem() {
        assertEquals(5_000_000_000L, ByteSizes.parse("5GB").getAsLong());
        assertEquals(500_000_000L, ByteSizes.parse("500MB").getAsLong());
        assertEquals(1_500_000_000L, ByteSizes.parse(" 1.5 g ").getAsLong());
        assertEquals(300_000L, ByteSizes.parse("300kB").getAsLong());
        assertEquals(1024L, ByteSizes.parse("1024").getAsLong());
    }

    @Test
    void otherTextIsNoSize() {
        for (String text : new String[] {"", "spark", "5TB", "-1GB", "GB", "5 GiB"}) assertTrue(ByteSizes.parse(text).isEmpty(), text);
    }
}
