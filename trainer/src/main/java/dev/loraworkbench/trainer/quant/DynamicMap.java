package dev.loraworkbench.trainer.quant;

import java.util.ArrayList;
import java.util.List;

/**
 * bitsandbytes' dynamic 8-bit maps ({@code create_dynamic_map}, 7 exponent bits), 256 sorted values each. Signed: for
 * i = 0..6 the 2^i midpoints of linspace(0.1, 1, 2^i + 1) times 10^(i-6), with both signs, plus 0 and 1; it quantizes
 * the NF4/FP4 block scales in double quantization and AdamW's first moment in 8-bit state. Unsigned: the 2^(i+1)
 * midpoints of linspace(0.1, 1, 2^(i+1) + 1), positive only, plus 0 and 1; for the second moment.
 */
public final class DynamicMap {
    public static final float[] SIGNED = build(true);
    public static final float[] UNSIGNED = build(false);

    private DynamicMap() {}

    private static float[] build(boolean signed) {
        List<Float> data = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            int items = (signed ? 1 << i : 2 << i) + 1;
            float[] boundaries = new float[items];
            for (int k = 0; k < items; k++) boundaries[k] = (float) (0.1 + (1.0 - 0.1) * k / (items - 1)); // linspace rounded once; torch's fp32 rounding differs by 1-2 ulps between builds (AdamW8bitTest)
            double scale = Math.pow(10, i - 6);
            for (int k = 0; k + 1 < items; k++) {
                float mean = (boundaries[k] + boundaries[k + 1]) / 2f;
                data.add((float) (scale * mean));
                if (signed) data.add((float) (-scale * mean));
            }
        }
        data.add(0f);
        data.add(1f);
        data.sort(Float::compare);
        float[] out = new float[data.size()];
        for (int i = 0; i < out.length; i++) out[i] = data.get(i);
        return out;
    }

    /** Index of the value nearest to {@code x} (binary search over the sorted map). */
    public static int nearest(float x) {
        int lo = 0, hi = SIGNED.length - 1;
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (SIGNED[mid] <= x) lo = mid; else hi = mid;
        }
        return Math.abs(SIGNED[hi] - x) < Math.abs(x - SIGNED[lo]) ? hi : lo;
    }
}
