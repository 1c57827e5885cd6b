package dev.loraworkbench.trainer.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.NativeLibrary;
import dev.loraworkbench.trainer.io.GgufWriter.TensorType;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.model.TinyModels;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ggml's reference block formats: on inputs whose blocks can be worked out by hand from ggml-quants.c, and byte for byte
 * against ggml's own quantizers (llama.cpp's libggml-base.so, called through JNA) on rows chosen to reach every branch.
 */
class GgmlQuantsTest {
    private static final List<TensorType> QUANTIZED = Stream.of(TensorType.values()).filter(TensorType::quantized).toList();

    private static ByteBuffer buffer(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Every quantized type on rows of 1024 values (4 super-blocks, 32 blocks): gaussian at several scales, bf16-rounded
     * weights, outliers, zero rows and zero sub-blocks, tiny values (fp16-subnormal scales, below ggml's 1e-15 epsilon),
     * constant rows, one-signed rows and exact rounding ties. Our bytes must be ggml's, and our dequantized values ggml's.
     */
    @Test
    void blocksAreByteForByteWhatGgmlWrites() throws Exception {
        NativeLibrary ggml = NativeLibrary.getInstance(LlamaCpp.ggmlBase().toString());
        Map<TensorType, long[]> compared = new EnumMap<>(TensorType.class);
        for (Map.Entry<String, float[]> row : rows().entrySet()) {
            for (TensorType type : QUANTIZED) compare(ggml, type, row.getValue(), row.getKey(), compared);
        }
        compared.forEach((type, n) -> System.out.printf("ggml %s: %d blocks identical (%d rows)%n", type, n[0], n[1]));
        assertEquals(QUANTIZED.size(), compared.size());
    }

    /** The same on real weights: every 2-D tensor of the shipped tiny-qwen2 (2.3 M values) in every quantized type. */
    @Test
    void theTinyModelsWeightsAreByteForByteWhatGgmlWrites(@TempDir Path dir) throws Exception {
        NativeLibrary ggml = NativeLibrary.getInstance(LlamaCpp.ggmlBase().toString());
        TinyModels.create(TinyModels.TINY_QWEN2, dir.resolve("m"), 0);
        Map<TensorType, long[]> compared = new EnumMap<>(TensorType.class);
        try (HfCheckpoint ckpt = HfCheckpoint.open(dir.resolve("m"))) {
            for (var t : ckpt.tensorsInOrder()) {
                if (t.shape().length != 2) continue;
                float[] values = ckpt.floats(t.name());
                for (TensorType type : QUANTIZED) {
                    if (type.fits(t.shape()[1])) compare(ggml, type, values, t.name(), compared);
                }
            }
        }
        compared.forEach((type, n) -> System.out.printf("ggml %s on tiny-qwen2: %d blocks identical (%d tensors)%n", type, n[0], n[1]));
        assertEquals(QUANTIZED.size(), compared.size(), "every type had a tensor whose rows fit it");
    }

    /** Quantizes {@code x} with ours and ggml's, compares the bytes and the dequantized values; counts blocks and inputs. */
    private static void compare(NativeLibrary ggml, TensorType type, float[] x, String what, Map<TensorType, long[]> compared) {
        String name = type.name().toLowerCase(Locale.ROOT).replace("_k", "_K"); // ggml's spelling: q4_0, q6_K
        int blocks = x.length / type.blockSize;
        ByteBuffer ours = buffer(blocks * type.blockBytes);
        type.encode(x, 0, x.length, ours);
        byte[] theirs = new byte[blocks * type.blockBytes];
        ggml.getFunction("quantize_row_" + name + "_ref").invokeVoid(new Object[] {x, theirs, (long) x.length});
        if (!Arrays.equals(ours.array(), theirs)) {
            int i = Arrays.mismatch(ours.array(), theirs);
            assertArrayEquals(Arrays.copyOfRange(theirs, i / type.blockBytes * type.blockBytes, (i / type.blockBytes + 1) * type.blockBytes),
                    Arrays.copyOfRange(ours.array(), i / type.blockBytes * type.blockBytes, (i / type.blockBytes + 1) * type.blockBytes),
                    type + " on " + what + ": block " + i / type.blockBytes + " differs from ggml's at its byte " + i % type.blockBytes);
        }
        float[] back = new float[x.length];
        ggml.getFunction("dequantize_row_" + name).invokeVoid(new Object[] {theirs, back, (long) x.length});
        assertArrayEquals(back, type.decode(ByteBuffer.wrap(theirs).order(ByteOrder.LITTLE_ENDIAN), x.length), type + " dequantized, on " + what);
        long[] n = compared.computeIfAbsent(type, k -> new long[2]);
        n[0] += blocks;
        n[1]++;
    }

    /** The inputs, by name: each 1024 values, from a fixed seed. */
    private static Map<String, float[]> rows() {
        Random random = new Random(20250607);
        Map<String, float[]> rows = new LinkedHashMap<>();
        for (double scale : new double[] {1e-3, 0.02, 1, 300}) {
            for (int i = 0; i < 3; i++) rows.put("gaussian " + scale + " #" + i, gaussian(random, scale));
        }
        for (int i = 0; i < 3; i++) {
            float[] x = gaussian(random, 0.02);
            for (int j = 0; j < x.length; j++) x[j] = Floats.bf16ToFloat(Floats.floatToBf16(x[j]));
            rows.put("bf16 weights #" + i, x);
        }
        for (int i = 0; i < 3; i++) {
            float[] x = gaussian(random, 0.02);
            for (int j = 0; j < x.length; j++) if (random.nextInt(100) == 0) x[j] *= 100 + random.nextInt(900);
            rows.put("outliers #" + i, x);
        }
        float[] one = gaussian(random, 1);
        one[300] = -5000;
        rows.put("one outlier", one);
        rows.put("zeros", new float[1024]);
        float[] zeroSubBlocks = gaussian(random, 1);
        for (int j = 0; j < 1024; j++) if (j / 16 % 3 == 0 || j / 32 % 5 == 1 || j / 256 == 2) zeroSubBlocks[j] = 0;
        rows.put("zero sub-blocks and a zero super-block", zeroSubBlocks);
        for (double scale : new double[] {1e-5, 1e-7, 1e-9, 1e-12, 1e-16, 1e-20, 1e-40}) rows.put("tiny " + scale, gaussian(random, scale));
        rows.put("constant 0.5", constant(0.5f));
        rows.put("constant -0.25", constant(-0.25f));
        float[] steps = new float[1024];
        for (int j = 0; j < 1024; j++) steps[j] = (j / 32 % 2 == 0 ? 1 : -1) * (1 + j / 64) * 0.01f;
        rows.put("constant per sub-block", steps);
        float[] signedZeros = new float[1024];
        for (int j = 0; j < 1024; j++) signedZeros[j] = j % 2 == 0 ? 0f : -0f;
        rows.put("signed zeros", signedZeros);
        float[] positive = new float[1024];
        float[] negative = new float[1024];
        for (int j = 0; j < 1024; j++) {
            positive[j] = random.nextFloat();
            negative[j] = -random.nextFloat() * 3;
        }
        rows.put("all positive", positive);
        rows.put("all negative", negative);
        float[] ties = new float[1024];
        for (int j = 0; j < 1024; j++) ties[j] = (random.nextInt(33) - 16) * 0.125f; // many codes land on exact halves
        rows.put("multiples of 1/8", ties);
        return rows;
    }

    private static float[] gaussian(Random random, double scale) {
        float[] x = new float[1024];
        for (int j = 0; j < x.length; j++) x[j] = (float) (random.nextGaussian() * scale);
        return x;
    }

    private static float[] constant(float v) {
        float[] x = new float[1024];
        Arrays.fill(x, v);
        return x;
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
        assertEquals(3f, GgmlQuants.roundf(2.5f));
        assertEquals(-3f, GgmlQuants.roundf(-2.5f));
        assertEquals(-2f, GgmlQuants.roundf(-2.4f));
        assertEquals(Float.POSITIVE_INFINITY, GgmlQuants.roundf(Float.POSITIVE_INFINITY));
        assertEquals(0, GgmlQuants.toInt(Float.NaN) & 0xFF, "x86 converts NaN to INT_MIN, whose low byte ggml stores");
    }

    @Test
    void nearestIntRoundsHalvesToEvenAsGgmlsMagicNumberDoes() {
        assertEquals(2, GgmlKQuants.nearestInt(2.5f));
        assertEquals(4, GgmlKQuants.nearestInt(3.5f));
        assertEquals(-2, GgmlKQuants.nearestInt(-2.5f));
        assertEquals(-3, GgmlKQuants.nearestInt(-2.6f));
        assertEquals(0, GgmlKQuants.nearestInt(-0.5f));
    }

    /** Relative RMS error of each type on gaussian rows: more bits, less error; a packing slip would be far off. */
    @Test
    void everyTypeRoundTripsWithTheErrorItsBitsAllow() {
        Random random = new Random(5);
        float[] x = new float[256 * 64];
        for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
        Map<TensorType, Double> bound = Map.of(TensorType.Q8_0, 0.01, TensorType.Q6_K, 0.03, TensorType.Q5_0, 0.06, TensorType.Q5_1, 0.06,
                TensorType.Q5_K, 0.06, TensorType.Q4_0, 0.12, TensorType.Q4_K, 0.12);
        for (TensorType type : QUANTIZED) {
            ByteBuffer b = buffer(x.length / type.blockSize * type.blockBytes);
            type.encode(x, 0, x.length, b);
            float[] back = type.decode(b.flip(), x.length);
            double err = 0, sum = 0;
            for (int i = 0; i < x.length; i++) {
                err += (back[i] - x[i]) * (back[i] - x[i]);
                sum += x[i] * x[i];
            }
            double relative = Math.sqrt(err / sum);
            System.out.printf("%s: relative RMS error %.4f%n", type, relative);
            assertTrue(relative <= bound.get(type), type + ": relative RMS error " + relative);
        }
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
