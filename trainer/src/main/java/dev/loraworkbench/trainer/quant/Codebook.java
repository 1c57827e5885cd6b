package dev.loraworkbench.trainer.quant;

/** The 4-bit codebooks of bitsandbytes, values by code 0..15. */
public enum Codebook {
    /** NormalFloat4: quantiles of N(0, 1) scaled to [-1, 1] (bitsandbytes' NF4 table). */
    NF4(new float[] {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
        -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f}),
    /** bitsandbytes FP4 (E2M1 with its own bias): magnitudes {0, 0.0625, 8, 12, 4, 6, 2, 3}/12 by code 0..7, bit 3 = sign. */
    FP4(fp4());

    private final float[] values;

    Codebook(float[] values) {
        this.values = values;
    }

    public float value(int code) { return values[code]; }

    public float[] table() { return values.clone(); }

    /** Code of the entry nearest to {@code x} (x already divided by the block's absmax); ties go to the lower code. */
    public int nearest(float x) {
        int best = 0;
        float bestDistance = Float.MAX_VALUE;
        for (int c = 0; c < 16; c++) {
            float d = Math.abs(values[c] - x);
            if (d < bestDistance) { bestDistance = d; best = c; }
        }
        return best;
    }

    private static float[] fp4() {
        float[] magnitude = {0f, 0.0625f, 8f, 12f, 4f, 6f, 2f, 3f};
        float[] v = new float[16];
        for (int c = 0; c < 8; c++) {
            v[c] = magnitude[c] / 12f;
            v[c + 8] = -magnitude[c] / 12f;
        }
        return v;
    }
}
