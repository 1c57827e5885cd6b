package dev.loraworkbench.trainer.io;

import java.nio.ByteBuffer;

/**
 * ggml's reference block quantizers for blocks of 32 (ggml-quants.c, quantize_row_*_ref), bit for bit: 32 consecutive
 * values of a row, each block an fp16 scale followed by the codes. Q8_0: d = max|x| / 127, q = round(x / d) as int8 (34
 * bytes). Q4_0: d = (the value of largest magnitude) / -8, q = min(15, trunc(x / d + 8.5)) as 4 bits, the block's first
 * 16 values in the low nibbles and its last 16 in the high ones (18 bytes). Q5_0: Q4_0 with d = that value / -16 and 5
 * bits, the fifth bits gathered in a uint32 after the scale (22 bytes). Q5_1: d = (max - min) / 31 and the fp16 min, 5
 * bits as Q5_0 (24 bytes). The super-blocks of 256 are {@link GgmlKQuants}.
 */
public final class GgmlQuants {
    public static final int BLOCK = 32;
    public static final int Q8_0_BYTES = 2 + BLOCK;
    public static final int Q4_0_BYTES = 2 + BLOCK / 2;
    public static final int Q5_0_BYTES = 2 + 4 + BLOCK / 2;
    public static final int Q5_1_BYTES = 2 + 2 + 4 + BLOCK / 2;

    private GgmlQuants() {}

    /** Appends the Q8_0 blocks of {@code x[from, from + n)} (n a multiple of 32) to {@code out} (little-endian). */
    public static void q8_0(float[] x, int from, int n, ByteBuffer out) {
        for (int b = from; b < from + n; b += BLOCK) {
            float amax = 0;
            for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[b + j]));
            float d = amax / ((1 << 7) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            out.putShort(Floats.floatToF16(d));
            for (int j = 0; j < BLOCK; j++) out.put((byte) toInt(roundf(x[b + j] * id)));
        }
    }

    /** Appends the Q4_0 blocks of {@code x[from, from + n)} (n a multiple of 32) to {@code out}. */
    public static void q4_0(float[] x, int from, int n, ByteBuffer out) {
        for (int b = from; b < from + n; b += BLOCK) {
            float d = largestMagnitude(x, b) / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            out.putShort(Floats.floatToF16(d));
            for (int j = 0; j < BLOCK / 2; j++) {
                int lo = Math.min(15, (byte) toInt(x[b + j] * id + 8.5f));
                int hi = Math.min(15, (byte) toInt(x[b + BLOCK / 2 + j] * id + 8.5f));
                out.put((byte) (lo | (hi << 4)));
            }
        }
    }

    /** The value of largest magnitude of the block at {@code b}, with its sign (the first of equals, as ggml keeps it). */
    private static float largestMagnitude(float[] x, int b) {
        float amax = 0;
        float max = 0;
        for (int j = 0; j < BLOCK; j++) {
            float v = x[b + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        return max;
    }

    /** Appends the Q5_0 blocks of {@code x[from, from + n)} (n a multiple of 32) to {@code out}. */
    public static void q5_0(float[] x, int from, int n, ByteBuffer out) {
        int[] q = new int[BLOCK];
        for (int b = from; b < from + n; b += BLOCK) {
            float d = largestMagnitude(x, b) / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            for (int j = 0; j < BLOCK; j++) q[j] = Math.min(31, (byte) toInt(x[b + j] * id + 16.5f));
            out.putShort(Floats.floatToF16(d));
            putFiveBits(q, out);
        }
    }

    /** Appends the Q5_1 blocks of {@code x[from, from + n)} (n a multiple of 32) to {@code out}. */
    public static void q5_1(float[] x, int from, int n, ByteBuffer out) {
        int[] q = new int[BLOCK];
        for (int b = from; b < from + n; b += BLOCK) {
            float min = Float.MAX_VALUE;
            float max = -Float.MAX_VALUE;
            for (int j = 0; j < BLOCK; j++) { // comparisons, not Math.min: ggml keeps 0.0 over a later -0.0
                float v = x[b + j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / ((1 << 5) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            for (int j = 0; j < BLOCK; j++) q[j] = (byte) toInt((x[b + j] - min) * id + 0.5f); // the unrounded min, as ggml
            out.putShort(Floats.floatToF16(d)).putShort(Floats.floatToF16(min));
            putFiveBits(q, out);
        }
    }

    /** 32 five-bit codes: their fifth bits as a uint32 (bit j for code j), then the low nibbles as Q4_0 orders them. */
    private static void putFiveBits(int[] q, ByteBuffer out) {
        int qh = 0;
        for (int j = 0; j < BLOCK; j++) qh |= ((q[j] & 0x10) >> 4) << j;
        out.putInt(qh);
        for (int j = 0; j < BLOCK / 2; j++) out.put((byte) ((q[j] & 0x0F) | ((q[BLOCK / 2 + j] & 0x0F) << 4)));
    }

    /** C's roundf: halves away from zero (Math.round takes -2.5 to -2, roundf to -3); infinities and NaN stay. */
    static float roundf(float v) {
        if (!(Math.abs(v) < 0x1p23f)) return v; // already integral, infinite or NaN
        return Math.copySign((float) Math.floor(Math.abs(v) + 0.5), v); // in double: |v| + 0.5 is exact
    }

    /**
     * C's float-to-integer conversion as x86-64 executes it (cvttss2si): truncation toward zero, and INT_MIN for NaN and
     * values out of range, where Java's cast saturates. A block of values so small that 1/d overflows (|x| < 2^-120 or
     * so) gives infinities and NaN here, and ggml then stores the low byte of INT_MIN.
     */
    static int toInt(float v) {
        return v >= -0x1p31f && v < 0x1p31f ? (int) v : Integer.MIN_VALUE;
    }

    /** What ggml's dequantize_row_q8_0 gives for blocks written by {@link #q8_0}. */
    public static float[] dequantizeQ8_0(ByteBuffer in, int n) {
        float[] out = new float[n];
        for (int b = 0; b < n; b += BLOCK) {
            float d = Floats.f16ToFloat(in.getShort());
            for (int j = 0; j < BLOCK; j++) out[b + j] = in.get() * d;
        }
        return out;
    }

    /** What ggml's dequantize_row_q4_0 gives for blocks written by {@link #q4_0}. */
    public static float[] dequantizeQ4_0(ByteBuffer in, int n) {
        float[] out = new float[n];
        for (int b = 0; b < n; b += BLOCK) {
            float d = Floats.f16ToFloat(in.getShort());
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = in.get() & 0xFF;
                out[b + j] = ((q & 0x0F) - 8) * d;
                out[b + BLOCK / 2 + j] = ((q >> 4) - 8) * d;
            }
        }
        return out;
    }

    /** What ggml's dequantize_row_q5_0 gives for blocks written by {@link #q5_0}. */
    public static float[] dequantizeQ5_0(ByteBuffer in, int n) {
        return dequantize5(in, n, false);
    }

    /** What ggml's dequantize_row_q5_1 gives for blocks written by {@link #q5_1}. */
    public static float[] dequantizeQ5_1(ByteBuffer in, int n) {
        return dequantize5(in, n, true);
    }

    /** Q5_0: (q - 16) * d; Q5_1: q * d + m. */
    private static float[] dequantize5(ByteBuffer in, int n, boolean withMin) {
        float[] out = new float[n];
        for (int b = 0; b < n; b += BLOCK) {
            float d = Floats.f16ToFloat(in.getShort());
            float m = withMin ? Floats.f16ToFloat(in.getShort()) : 0;
            int qh = in.getInt();
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = in.get() & 0xFF;
                int x0 = (q & 0x0F) | (((qh >>> j) << 4) & 0x10);
                int x1 = (q >> 4) | ((qh >>> (j + 12)) & 0x10);
                out[b + j] = withMin ? x0 * d + m : (x0 - 16) * d;
                out[b + BLOCK / 2 + j] = withMin ? x1 * d + m : (x1 - 16) * d;
            }
        }
        return out;
    }
}
