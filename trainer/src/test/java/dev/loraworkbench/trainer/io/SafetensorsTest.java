package dev.loraworkbench.trainer.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    @TempDir Path dir;

    private Path sample() throws Exception {
        Path p = dir.resolve("t.safetensors");
        new SafetensorsWriter()
                .putF32("a", new long[] {2, 3}, new float[] {1, -2, 3.5f, 0, 1e-3f, -7})
                .putBf16("b", new long[] {4}, new float[] {1f, -0.5f, 3.140625f, 65536f})
                .write(p);
        return p;
    }

    @Test
    void roundTripF32AndBf16() throws Exception {
        Path p = sample();
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(DType.F32, f.info("a").dtype());
            assertArrayEquals(new long[] {2, 3}, f.info("a").shape());
            assertArrayEquals(new float[] {1, -2, 3.5f, 0, 1e-3f, -7}, f.floats("a"));
            assertArrayEquals(new float[] {1f, -0.5f, 3.140625f, 65536f}, f.floats("b"));
            assertEquals("pt", f.metadata().get("format"));
        }
        byte[] bytes = Files.readAllBytes(p);
        long headerLen = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + headerLen) % 8, "data section is 8-byte aligned");
    }

    @Test
    void bf16AndF16Conversions() {
        assertEquals(1.0f, Floats.bf16ToFloat((short) 0x3F80));
        assertEquals((short) 0x3F80, Floats.floatToBf16(1.0f));
        // round to nearest even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 -> 1
        assertEquals((short) 0x3F80, Floats.floatToBf16(1.00390625f));
        assertEquals((short) 0x3F81, Floats.floatToBf16(1.005f));
        assertTrue(Float.isNaN(Floats.bf16ToFloat(Floats.floatToBf16(Float.NaN))));
        assertEquals(1.0f, Floats.f16ToFloat((short) 0x3C00));
        assertEquals(-2.0f, Floats.f16ToFloat((short) 0xC000));
        assertEquals(65504f, Floats.f16ToFloat((short) 0x7BFF));
        assertEquals(0x1p-24f, Floats.f16ToFloat((short) 0x0001));
        assertEquals(Float.POSITIVE_INFINITY, Floats.f16ToFloat((short) 0x7C00));
        // float -> half -> float is exact for every half value, and rounds to nearest even in between
        for (int h = 0; h < 0x10000; h++) {
            float f = Floats.f16ToFloat((short) h);
            if (Float.isNaN(f)) continue;
            assertEquals((short) h == (short) 0x8000 ? (short) 0x8000 : (short) h, Floats.floatToF16(f), "half " + Integer.toHexString(h));
        }
        assertEquals((short) 0x3C00, Floats.floatToF16(1.0f + 0x1p-11f)); // tie -> even
        assertEquals((short) 0x3C01, Floats.floatToF16(1.0f + 0x1p-11f + 0x1p-20f));
        assertEquals((short) 0x7C00, Floats.floatToF16(70000f));
        assertEquals((short) 0x0001, Floats.floatToF16(0x1p-24f));
        assertEquals((short) 0x0000, Floats.floatToF16(0x1p-26f));
    }

    private String openError(Path p) {
        return assertThrows(CheckpointFormatException.class, () -> SafetensorsFile.open(p).close()).getMessage();
    }

    @Test
    void truncatedFileIsAClearError() throws Exception {
        byte[] bytes = Files.readAllBytes(sample());
        Path cut = Files.write(dir.resolve("cut.safetensors"), Arrays.copyOf(bytes, bytes.length - 3));
        String msg = openError(cut);
        assertTrue(msg.startsWith(cut + ": tensor '"), msg);
        assertTrue(msg.contains("outside the data section") && msg.contains("truncated"), msg);
        Path tiny = Files.write(dir.resolve("tiny.safetensors"), new byte[] {1, 2, 3});
        assertTrue(openError(tiny).contains("too short"));
        Path headerCut = Files.write(dir.resolve("h.safetensors"), Arrays.copyOf(bytes, 20));
        assertTrue(openError(headerCut).contains("does not fit the file size"), openError(headerCut));
    }

    private Path withHeader(String json, int dataBytes) throws Exception {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return Files.write(dir.resolve("x" + System.nanoTime() + ".safetensors"), b.array());
    }

    @Test
    void corruptHeadersAreClearErrors() throws Exception {
        assertTrue(openError(withHeader("{not json", 0)).contains("not valid JSON"));
        assertTrue(openError(withHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4)).contains("needs 8"));
        String huge = openError(withHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,0]}}", 0));
        assertTrue(huge.contains("has more bytes than any file can hold"), "[2^40, 2^40] overflowed to 0 bytes and passed: " + huge);
        assertTrue(openError(withHeader("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4)).contains("dtype Q4 is not supported"));
        assertTrue(openError(withHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 8)).contains("overlap"));
        assertTrue(openError(withHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4)).contains("needs dtype, shape and data_offsets"));
    }

    @Test
    void missingTensorIsNamed() throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(sample())) {
            assertTrue(assertThrows(CheckpointFormatException.class, () -> f.floats("zzz")).getMessage().contains("no tensor named 'zzz'"));
        }
    }
}
