package dev.loraworkbench.trainer.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** ggml's reference block formats on inputs whose blocks can be worked out by hand from ggml-quants.c. */
class GgmlQuantsTest {
    private static ByteBuffer buffer(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void aSingleOneInABlockOfZeros() {
        float[] x = new float[32];
        x[0] = 1f;
        ByteBuffer q8 = buffer(GgmlQuants.Q8_0_BYTES);
        GgmlQuants.q8_0(x, 0, 32, q8);
        assertEquals(Floats.floatToF16(1f / 127), q8.getShort(0), "d = max|x| / 127");
        assertEquals(127, q8.get(2));
        for (int j = 1; j < 32; j++) assertEquals(0, q8.get(2 + j));

        ByteBuffer q4 = buffer(GgmlQuants.Q4_0_BYTES);
        GgmlQuants.q4_0(x, 0, 32, q4);
        assertEquals(Floats.floatToF16(-0.125f), q4.getShort(0), "d = (value of largest magnitude) / -8");
        assertEquals((byte) 0x80, q4.get(2), "x0 = 1 -> trunc(-8 + 8.5) = 0 in the low nibble; x16 = 0 -> 8 in the high one");
        for (int j = 1; j < 16; j++) assertEquals((byte) 0x88, q4.get(2 + j));
    }

    @Test
    void halvesRoundAwayFromZeroAsCsRoundfDoes() {
        assertEquals(3, GgmlQuants.roundf(2.5f));
        assertEquals(-3, GgmlQuants.roundf(-2.5f));
        assertEquals(-2, GgmlQuants.roundf(-2.4f));
    }

    @Test
    void dequantizedBlocksStayWithinHalfAStepOfTheInput() {
        Random random = new Random(3);
        float[] x = new float[32 * 64];
        for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian() * (1 + i / 512);
        ByteBuffer q8 = buffer(x.length / 32 * GgmlQuants.Q8_0_BYTES);
        GgmlQuants.q8_0(x, 0, x.length, q8);
        float[] back8 = GgmlQuants.dequantizeQ8_0(q8.flip(), x.length);
        ByteBuffer q4 = buffer(x.length / 32 * GgmlQuants.Q4_0_BYTES);
        GgmlQuants.q4_0(x, 0, x.length, q4);
        float[] back4 = GgmlQuants.dequantizeQ4_0(q4.flip(), x.length);
        for (int b = 0; b < x.length; b += 32) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b + j]));
            for (int j = 0; j < 32; j++) {
                // the fp16 scale adds its own rounding (relative 2^-11) on top of half a step
                assertTrue(Math.abs(back8[b + j] - x[b + j]) <= amax / 127 * 0.5 + amax * 1e-3, "q8_0 at " + (b + j));
                assertTrue(Math.abs(back4[b + j] - x[b + j]) <= amax / 8 + amax * 1e-3, "q4_0 at " + (b + j));
            }
        }
    }
}
