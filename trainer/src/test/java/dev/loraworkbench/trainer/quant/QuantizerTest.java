package dev.loraworkbench.trainer.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.util.Random;
import org.junit.jupiter.api.Test;

class QuantizerTest {

    @Test
    void handComputedNf4Block() {
        // absmax 2 -> normalised [0.5, -0.25, 0.125, 0, 1, -1, 0.08, -0.09]
        float[] w = {1.0f, -0.5f, 0.25f, 0f, 2f, -2f, 0.16f, -0.18f};
        QuantizedTensor q = Quantizer.quantize(w, new long[] {2, 4}, Codebook.NF4, 8, false);
        assertArrayEquals(new float[] {2f}, q.absmax());
        // 0.5 -> code 12 (0.4407 is 0.059 away, 0.5626 is 0.063), -0.25 -> 4 (-0.2844), 0.125 -> 9 (0.1609), 0 -> 7, 1 -> 15, -1 -> 0, 0.08 -> 8 (0.0796), -0.09 -> 6 (-0.0911)
        assertArrayEquals(new byte[] {(byte) 0xC4, (byte) 0x97, (byte) 0xF0, (byte) 0x86}, q.codes(), "first element in the high nibble");
        float[] back = Quantizer.dequantize(q);
        assertEquals(2 * 0.44070982933044434f, back[0], 1e-7);
        assertEquals(0f, back[3]);
        assertEquals(-2f, back[5]);
    }

    @Test
    void fp4ValuesAndSignBit() {
        float[] t = Codebook.FP4.table();
        float[] magnitudes = {0f, 0.0625f, 8f, 12f, 4f, 6f, 2f, 3f};
        for (int c = 0; c < 8; c++) {
            assertEquals(magnitudes[c] / 12f, t[c]);
            assertEquals(-magnitudes[c] / 12f, t[c + 8], "bit 3 is the sign");
        }
        QuantizedTensor q = Quantizer.quantize(new float[] {12f, -6f, 3f, 0.0625f}, new long[] {4}, Codebook.FP4, 4, false);
        assertArrayEquals(new byte[] {(byte) 0x3D, (byte) 0x71}, q.codes()); // 1 -> 3, -0.5 -> 8|5, 0.25 -> 7, 0.0625/12 -> 1
        assertEquals(0, Codebook.FP4.nearest(0f), "zero is +0 (code 0), not -0");
        assertEquals(7, Codebook.NF4.nearest(0f));
        // the midpoint tree agrees with a brute-force nearest search
        java.util.Random r = new java.util.Random(5);
        for (Codebook cb : Codebook.values()) {
            float[] table = cb.table();
            for (int i = 0; i < 10000; i++) {
                float x = (float) (r.nextDouble() * 2 - 1);
                float best = Float.MAX_VALUE;
                for (float v : table) best = Math.min(best, Math.abs(v - x));
                assertEquals(best, Math.abs(table[cb.nearest(x)] - x), 0f, cb + " at " + x);
            }
        }
    }

    @Test
    void dynamicMapHas256SortedValues() {
        float[] m = DynamicMap.SIGNED;
        assertEquals(256, m.length);
        for (int i = 1; i < m.length; i++) assertTrue(m[i - 1] < m[i]);
        assertEquals(1f, m[255]);
        assertEquals(-0.99296875f, m[0], 1e-7);
        assertEquals(0f, m[127]);
        assertEquals(0.55e-6f, m[128], 1e-12);
        assertEquals(128, DynamicMap.nearest(0.5e-6f));
        assertEquals(255, DynamicMap.nearest(2f));
    }

    private static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (float) r.nextGaussian();
        return w;
    }

    private static double rmse(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (a[i] - b[i]) * (double) (a[i] - b[i]);
        return Math.sqrt(s / a.length);
    }

    /** Round-trip error on N(0, 1) weights, blocks of 64: NF4 is the better 4-bit code for normal data. */
    @Test
    void roundTripErrorOnNormalWeights() {
        float[] w = gaussian(64 * 4096, 1);
        long[] shape = {256, 1024};
        double nf4 = rmse(w, Quantizer.dequantize(Quantizer.quantize(w, shape, Codebook.NF4, 64, false)));
        double fp4 = rmse(w, Quantizer.dequantize(Quantizer.quantize(w, shape, Codebook.FP4, 64, false)));
        double nf4dq = rmse(w, Quantizer.dequantize(Quantizer.quantize(w, shape, Codebook.NF4, 64, true)));
        assertTrue(nf4 > 0.05 && nf4 < 0.12, "NF4 rmse " + nf4);
        assertTrue(fp4 > nf4, "FP4 rmse " + fp4 + " vs NF4 " + nf4);
        assertTrue(nf4dq < nf4 * 1.02, "double quantization costs little: " + nf4dq + " vs " + nf4);
        double mean = 0;
        float[] back = Quantizer.dequantize(Quantizer.quantize(w, shape, Codebook.NF4, 64, false));
        for (int i = 0; i < w.length; i++) mean += back[i] - w[i];
        assertEquals(0, mean / w.length, 2e-3, "no systematic bias");
    }

    @Test
    void doubleQuantizedScalesStayClose() {
        float[] w = gaussian(64 * 1000, 2);
        QuantizedTensor plain = Quantizer.quantize(w, new long[] {1000, 64}, Codebook.NF4, 64, false);
        QuantizedTensor dq = Quantizer.quantize(w, new long[] {1000, 64}, Codebook.NF4, 64, true);
        assertArrayEquals(plain.codes(), dq.codes(), "the 4-bit codes do not depend on how scales are stored");
        float[] s = dq.scales();
        for (int i = 0; i < s.length; i++) assertEquals(plain.absmax()[i], s[i], 0.02 * plain.absmax()[i]);
        assertTrue(dq.bytes() < plain.bytes(), dq.bytes() + " vs " + plain.bytes());
    }

    /** The device path (byte-table gather) gives exactly the Java reference dequantization. */
    @Test
    void deviceDequantizationMatchesTheReference() {
        float[] w = gaussian(128 * 96, 3);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (Codebook cb : Codebook.values()) {
                for (boolean dq : new boolean[] {false, true}) {
                    QuantizedTensor q = Quantizer.quantize(w, new long[] {128, 96}, cb, 64, dq);
                    try (NDManager scratch = m.newSubManager()) {
                        float[] device = DeviceQuantized.upload(q, m).dequantize(scratch).toFloatArray();
                        float[] ref = Quantizer.dequantize(q);
                        for (int i = 0; i < ref.length; i++) assertEquals(ref[i], device[i], Math.abs(ref[i]) * 1e-6f + 1e-7f, cb + " dq=" + dq + " at " + i);
                    }
                }
            }
        }
    }
}
