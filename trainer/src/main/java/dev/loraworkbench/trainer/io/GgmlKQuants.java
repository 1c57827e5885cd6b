package dev.loraworkbench.trainer.io;

import java.nio.ByteBuffer;

/**
 * ggml's reference k-quants (ggml-quants.c, quantize_row_q4_K_ref / q5_K_ref / q6_K_ref: what llama-quantize writes
 * without an importance matrix), bit for bit: super-blocks of 256 values, each with its own scales for sub-blocks.
 * Q4_K and Q5_K: 8 sub-blocks of 32, each fitted as scale · q - min by a small search (make_qkx2_quants), the 8 scales
 * and 8 mins as 6-bit multiples of two fp16 super-scales packed into 12 bytes, then 4- or 5-bit codes. Q6_K: 16
 * sub-blocks of 16, each scale fitted by make_qx_quants, stored as int8 multiples of one fp16 scale, 6-bit codes.
 * The float arithmetic follows the C source operation by operation (float, not double; the same order), as it must
 * to give the same bytes.
 */
public final class GgmlKQuants {
    public static final int QK_K = 256;
    public static final int Q4_K_BYTES = 2 + 2 + 12 + QK_K / 2;
    public static final int Q5_K_BYTES = 2 + 2 + 12 + QK_K / 8 + QK_K / 2;
    public static final int Q6_K_BYTES = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;
    private static final float GROUP_MAX_EPS = 1e-15f;

    private GgmlKQuants() {}

    /** Appends the Q4_K blocks of {@code x[from, from + n)} (n a multiple of 256): d, dmin, 12 bytes of scales, 128 of nibbles. */
    public static void q4_K(float[] x, int from, int n, ByteBuffer out) {
        int[] l = new int[QK_K];
        for (int b = from; b < from + n; b += QK_K) {
            ScalesAndMins s = fitSubBlocks(x, b, 15, -1f, 20, l);
            out.putShort(s.d).putShort(s.dmin).put(s.packed);
            for (int j = 0; j < QK_K; j += 64) { // per 64 values: the first 32 in the low nibbles, the next 32 in the high
                for (int i = 0; i < 32; i++) out.put((byte) (l[j + i] | (l[j + i + 32] << 4)));
            }
        }
    }

    /** Appends the Q5_K blocks of {@code x[from, from + n)}: d, dmin, 12 bytes of scales, 32 of fifth bits, 128 of nibbles. */
    public static void q5_K(float[] x, int from, int n, ByteBuffer out) {
        int[] l = new int[QK_K];
        for (int b = from; b < from + n; b += QK_K) {
            ScalesAndMins s = fitSubBlocks(x, b, 31, -0.5f, 15, l);
            byte[] qh = new byte[QK_K / 8];
            byte[] ql = new byte[QK_K / 2];
            int m1 = 1, m2 = 2;
            for (int j = 0, q = 0; j < QK_K; j += 64, q += 32) {
                for (int i = 0; i < 32; i++) {
                    int l1 = l[j + i];
                    int l2 = l[j + i + 32];
                    if (l1 > 15) { l1 -= 16; qh[i] |= (byte) m1; }
                    if (l2 > 15) { l2 -= 16; qh[i] |= (byte) m2; }
                    ql[q + i] = (byte) (l1 | (l2 << 4));
                }
                m1 <<= 2;
                m2 <<= 2;
            }
            out.putShort(s.d).putShort(s.dmin).put(s.packed).put(qh).put(ql);
        }
    }

    /** A Q4_K / Q5_K super-block's header: fp16 d and dmin, the packed 6-bit scales and mins. */
    private record ScalesAndMins(short d, short dmin, byte[] packed) {}

    /**
     * The shared part of quantize_row_q4_K_ref and q5_K_ref: fits each sub-block of 32 (weights |x| plus the RMS),
     * quantizes the 8 scales and 8 mins to 6 bits against their largest, then recomputes the codes {@code l} against the
     * scales as stored (a sub-block whose stored scale is 0 keeps the codes of its fit).
     */
    private static ScalesAndMins fitSubBlocks(float[] x, int b, int nmax, float rmin, int nstep, int[] l) {
        float[] scales = new float[8];
        float[] mins = new float[8];
        float[] weights = new float[32];
        int[] laux = new int[32];
        float maxScale = 0;
        float maxMin = 0;
        for (int j = 0; j < 8; j++) {
            int o = b + 32 * j;
            float sumX2 = 0;
            for (int i = 0; i < 32; i++) sumX2 += x[o + i] * x[o + i];
            float avX = (float) Math.sqrt(sumX2 / 32); // sqrtf: the double root rounded to float is the float root
            for (int i = 0; i < 32; i++) weights[i] = avX + Math.abs(x[o + i]);
            scales[j] = makeQkx2Quants(nmax, x, o, weights, l, 32 * j, mins, j, laux, rmin, 0.1f, nstep);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        byte[] packed = new byte[12];
        for (int j = 0; j < 8; j++) {
            int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xFF); // C stores nearest_int in a uint8_t first
            int lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xFF);
            if (j < 4) {
                packed[j] = (byte) ls;
                packed[j + 4] = (byte) lm;
            } else {
                packed[j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte) ((ls >> 4) << 6);
                packed[j] |= (byte) ((lm >> 4) << 6);
            }
        }
        short d = Floats.floatToF16(maxScale / 63.f);
        short dmin = Floats.floatToF16(maxMin / 63.f);
        for (int j = 0; j < 8; j++) {
            float dj = Floats.f16ToFloat(d) * scale(packed, j);
            if (dj == 0) continue;
            float dm = Floats.f16ToFloat(dmin) * min(packed, j);
            for (int i = 0; i < 32; i++) l[32 * j + i] = Math.max(0, Math.min(nmax, nearestInt((x[b + 32 * j + i] + dm) / dj)));
        }
        return new ScalesAndMins(d, dmin, packed);
    }

    /** get_scale_min_k4's scale of sub-block j: 6 bits, the last four split into a nibble and two top bits. */
    static int scale(byte[] q, int j) {
        return j < 4 ? q[j] & 63 : (q[j + 4] & 0xF) | (((q[j - 4] & 0xFF) >> 6) << 4);
    }

    /** get_scale_min_k4's min of sub-block j. */
    static int min(byte[] q, int j) {
        return j < 4 ? q[j + 4] & 63 : ((q[j + 4] & 0xFF) >> 4) | (((q[j] & 0xFF) >> 6) << 4);
    }

    /**
     * make_qkx2_quants as the reference quantizers call it (squared error, rdelta 0.1): codes in [0, nmax] for
     * scale · l - min over {@code x[xo, xo + 32)}, starting from the range's own scale and keeping the best of
     * nstep + 1 least-squares refits of codes from scales (rmin + rdelta · is + nmax) / range. The min (as a positive
     * offset) goes to {@code mins[j]}, the codes to {@code l[lo, lo + 32)}; returns the scale.
     */
    private static float makeQkx2Quants(int nmax, float[] x, int xo, float[] weights, int[] l, int lo, float[] mins, int j,
                                        int[] laux, float rmin, float rdelta, int nstep) {
        int n = 32;
        float min = x[xo];
        float max = x[xo];
        float sumW = weights[0];
        float sumX = sumW * x[xo];
        for (int i = 1; i < n; i++) {
            if (x[xo + i] < min) min = x[xo + i];
            if (x[xo + i] > max) max = x[xo + i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[xo + i];
        }
        if (min > 0) min = 0;
        if (max == min) {
            for (int i = 0; i < n; i++) l[lo + i] = 0;
            mins[j] = -min;
            return 0.f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++) {
            int q = nearestInt(iscale * (x[xo + i] - min));
            l[lo + i] = Math.max(0, Math.min(nmax, q));
            float diff = scale * l[lo + i] + min - x[xo + i];
            bestError += weights[i] * (diff * diff);
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++) {
                int q = Math.max(0, Math.min(nmax, nearestInt(iscale * (x[xo + i] - min))));
                laux[i] = q;
                float w = weights[i];
                sumL += w * q;
                sumL2 += w * q * q;
                sumXL += w * q * x[xo + i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0) {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * laux[i] + thisMin - x[xo + i];
                    curError += weights[i] * (diff * diff);
                }
                if (curError < bestError) {
                    System.arraycopy(laux, 0, l, lo, n);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        mins[j] = -min;
        return scale;
    }

    /** Appends the Q6_K blocks of {@code x[from, from + n)}: 128 bytes of low nibbles, 64 of top bits, 16 int8 scales, d. */
    public static void q6_K(float[] x, int from, int n, ByteBuffer out) {
        int[] l = new int[QK_K];
        float[] scales = new float[QK_K / 16];
        for (int b = from; b < from + n; b += QK_K) {
            float maxScale = 0;
            float maxAbsScale = 0;
            for (int ib = 0; ib < QK_K / 16; ib++) {
                float scale = makeQxQuants(x, b + 16 * ib, l, 16 * ib);
                scales[ib] = scale;
                if (Math.abs(scale) > maxAbsScale) {
                    maxAbsScale = Math.abs(scale);
                    maxScale = scale;
                }
            }
            if (maxAbsScale < GROUP_MAX_EPS) { // an all-zero block: all zero bytes
                out.put(new byte[Q6_K_BYTES]);
                continue;
            }
            float iscale = -128.f / maxScale;
            short d = Floats.floatToF16(1 / iscale);
            byte[] sc = new byte[QK_K / 16];
            for (int ib = 0; ib < QK_K / 16; ib++) sc[ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
            for (int j = 0; j < QK_K / 16; j++) {
                float dj = Floats.f16ToFloat(d) * sc[j];
                if (dj == 0) continue; // keeps the codes of the fit
                for (int i = 0; i < 16; i++) l[16 * j + i] = Math.max(-32, Math.min(31, nearestInt(x[b + 16 * j + i] / dj))) + 32;
            }
            byte[] ql = new byte[QK_K / 2];
            byte[] qh = new byte[QK_K / 4];
            for (int j = 0, lq = 0, hq = 0; j < QK_K; j += 128, lq += 64, hq += 32) {
                for (int i = 0; i < 32; i++) {
                    int q1 = l[j + i], q2 = l[j + i + 32], q3 = l[j + i + 64], q4 = l[j + i + 96];
                    ql[lq + i] = (byte) ((q1 & 0xF) | ((q3 & 0xF) << 4));
                    ql[lq + i + 32] = (byte) ((q2 & 0xF) | ((q4 & 0xF) << 4));
                    qh[hq + i] = (byte) ((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
                }
            }
            out.put(ql).put(qh).put(sc).putShort(d);
        }
    }

    /**
     * make_qx_quants as quantize_row_q6_K_ref calls it (16 values, nmax 32, rmse_type 1: weights x², no importance):
     * codes l + 32 for l in [-32, 31] into {@code l[lo, lo + 16)}, from the scale that puts the largest-magnitude value
     * at -32, then the best least-squares scale of 18 nearby ones (-(32 + 0.1 · is) / max). Returns the scale.
     */
    private static float makeQxQuants(float[] x, int xo, int[] l, int lo) {
        int n = 16;
        int nmax = 32;
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) { amax = ax; max = x[xo + i]; }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) l[lo + i] = 0;
            return 0.f;
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; i++) {
            int q = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[xo + i])));
            l[lo + i] = q + nmax;
            float w = x[xo + i] * x[xo + i];
            sumlx += w * x[xo + i] * q;
            suml2 += w * q * q;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++) {
                int q = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[xo + i])));
                float w = x[xo + i] * x[xo + i];
                sumlx += w * x[xo + i] * q;
                suml2 += w * q * q;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) l[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[xo + i])));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /**
     * ggml's nearest_int: adding 1.5 · 2^23 leaves the integer in the low mantissa bits, rounded to nearest even
     * (Math.round would take halves up).
     */
    static int nearestInt(float v) {
        return (Float.floatToRawIntBits(v + 12582912.f) & 0x007fffff) - 0x00400000;
    }

    /** What ggml's dequantize_row_q4_K gives for blocks written by {@link #q4_K}. */
    public static float[] dequantizeQ4_K(ByteBuffer in, int n) {
        return dequantizeScaledMin(in, n, false);
    }

    /** What ggml's dequantize_row_q5_K gives for blocks written by {@link #q5_K}. */
    public static float[] dequantizeQ5_K(ByteBuffer in, int n) {
        return dequantizeScaledMin(in, n, true);
    }

    /** d · scale_j · q - dmin · min_j, sub-block by sub-block; Q5_K adds the fifth bit (16) from its qh bytes. */
    private static float[] dequantizeScaledMin(ByteBuffer in, int n, boolean fiveBits) {
        float[] y = new float[n];
        byte[] packed = new byte[12];
        byte[] qh = new byte[QK_K / 8];
        byte[] qs = new byte[QK_K / 2];
        for (int b = 0; b < n; b += QK_K) {
            float d = Floats.f16ToFloat(in.getShort());
            float min = Floats.f16ToFloat(in.getShort());
            in.get(packed);
            if (fiveBits) in.get(qh);
            in.get(qs);
            for (int j = 0, is = 0; j < QK_K; j += 64, is += 2) {
                float d1 = d * scale(packed, is), m1 = min * min(packed, is);
                float d2 = d * scale(packed, is + 1), m2 = min * min(packed, is + 1);
                int u1 = 1 << is, u2 = 2 << is;
                for (int i = 0; i < 32; i++) {
                    int q = qs[j / 2 + i] & 0xFF;
                    int h1 = fiveBits && (qh[i] & u1) != 0 ? 16 : 0;
                    int h2 = fiveBits && (qh[i] & u2) != 0 ? 16 : 0;
                    y[b + j + i] = d1 * ((q & 0xF) + h1) - m1;
                    y[b + j + 32 + i] = d2 * ((q >> 4) + h2) - m2;
                }
            }
        }
        return y;
    }

    /** What ggml's dequantize_row_q6_K gives for blocks written by {@link #q6_K}. */
    public static float[] dequantizeQ6_K(ByteBuffer in, int n) {
        float[] y = new float[n];
        byte[] ql = new byte[QK_K / 2];
        byte[] qh = new byte[QK_K / 4];
        byte[] sc = new byte[QK_K / 16];
        for (int b = 0; b < n; b += QK_K) {
            in.get(ql).get(qh).get(sc);
            float d = Floats.f16ToFloat(in.getShort());
            for (int half = 0; half < 2; half++) {
                int lq = 64 * half, hq = 32 * half, s = 8 * half, o = b + 128 * half;
                for (int i = 0; i < 32; i++) {
                    int is = i / 16;
                    int h = qh[hq + i] & 0xFF;
                    int q1 = ((ql[lq + i] & 0xF) | ((h & 3) << 4)) - 32;
                    int q2 = ((ql[lq + i + 32] & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                    int q3 = (((ql[lq + i] & 0xFF) >> 4) | (((h >> 4) & 3) << 4)) - 32;
                    int q4 = (((ql[lq + i + 32] & 0xFF) >> 4) | (((h >> 6) & 3) << 4)) - 32;
                    y[o + i] = d * sc[s + is] * q1;
                    y[o + i + 32] = d * sc[s + is + 2] * q2;
                    y[o + i + 64] = d * sc[s + is + 4] * q3;
                    y[o + i + 96] = d * sc[s + is + 6] * q4;
                }
            }
        }
        return y;
    }
}
