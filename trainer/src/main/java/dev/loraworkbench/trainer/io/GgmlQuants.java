package dev.loraworkbench.trainer.io;

import java.nio.ByteBuffer;

/**
 * ggml's reference block quantizers (ggml-quants.c, quantize_row_q8_0_ref / quantize_row_q4_0_ref), bit for bit: blocks
 * of 32 consecutive values of a row, each an fp16 scale followed by the codes. Q8_0: d = max|x| / 127, q = round(x / d)
 * as int8 (34 bytes). Q4_0: d = (the value of largest magnitude) / -8, q = min(15, trunc(x / d + 8.5)) as 4 bits, the
 * block's first 16 values in the low nibbles and its last 16 in the high ones (18 bytes).
 */
public final class GgmlQuants {
    public static final int BLOCK = 32;
    public static final int Q8_0_BYTES = 2 + BLOCK;
    public static final int Q4_0_BYTES = 2 + BLOCK / 2;

    private GgmlQuants() {}

    /** Appends the Q8_0 blocks of {@code x[from, from + n)} (n a multiple of 32) to {@code out} (little-endian). */
    public static void q8_0(float[] x, int from, int n, ByteBuffer out) {
        for (int b = from; b < from + n; b += BLOCK) {
            float amax = 0;
            for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[b + j]));
            float d = amax / ((1 << 7) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            out.putShort(Floats.floatToF16(d));
            for (int j = 0; j < BLOCK; j++) out.put((byte) roundf(x[b + j] * id));
        }
    }

    /** Appends the Q4_0 blocks of {@code x[from, from + n)} (n a multiple of 32) to {@code out}. */
    public static void q4_0(float[] x, int from, int n, ByteBuffer out) {
        for (int b = from; b < from + n; b += BLOCK) {
            float amax = 0;
            float max = 0;
            for (int j = 0; j < BLOCK; j++) {
                float v = x[b + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            out.putShort(Floats.floatToF16(d));
            for (int j = 0; j < BLOCK / 2; j++) {
                int lo = Math.min(15, (byte) (x[b + j] * id + 8.5f));
                int hi = Math.min(15, (byte) (x[b + BLOCK / 2 + j] * id + 8.5f));
                out.put((byte) (lo | (hi << 4)));
            }
        }
    }

    /** C's roundf: halves away from zero (Java's Math.round takes -2.5 to -2, roundf to -3). */
    static int roundf(float v) {
        return v < 0 ? -Math.round(-v) : Math.round(v);
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
}
