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
    private final float[] sortedValues;
    private final int[] sortedCodes;
    private final float[] midpoints;

    Codebook(float[] values) {
        this.values = values;
        Integer[] order = new Integer[16];
        for (int i = 0; i < 16; i++) order[i] = i;
        // +0 and -0 (FP4) compare equal, and the stable sort keeps +0 (code 0) first, so zero quantizes to code 0
        java.util.Arrays.sort(order, (a, b) -> Double.compare(values[a] + 0.0, values[b] + 0.0));
        sortedValues = new float[16];
        sortedCodes = new int[16];
        for (int i = 0; i < 16; i++) {
            sortedCodes[i] = order[i];
            sortedValues[i] = values[order[i]];
        }
        midpoints = new float[15];
        for (int i = 0; i < 15; i++) midpoints[i] = (sortedValues[i] + sortedValues[i + 1]) / 2f;
    }

    public float value(int code) { return values[code]; }

    public float[] table() { return values.clone(); }

    /**
     * Code of the entry nearest to {@code x} (x already divided by the block's absmax): four comparisons against
     * the midpoints of the sorted values, as bitsandbytes' threshold tree; a value exactly on a midpoint goes down.
     */
    public int nearest(float x) {
        // unrolled and branch-free (compare -> 0/1): on N(0,1) weights every branch would be a coin flip
        int lo = x > midpoints[7] ? 8 : 0;
        lo += x > midpoints[lo + 3] ? 4 : 0;
        lo += x > midpoints[lo + 1] ? 2 : 0;
        lo += x > midpoints[lo] ? 1 : 0;
        return sortedCodes[lo];
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
