package dev.loraworkbench.trainer.generate;

import java.util.Random;

/** Next-token choice from one row of logits: greedy at temperature 0, else temperature + top-p (nucleus) sampling. */
public final class Sampler {
    private final double temperature;
    private final double topP;
    private final Random random;

    public Sampler(double temperature, double topP, long seed) {
        if (temperature < 0) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topP <= 0 || topP > 1) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        this.temperature = temperature;
        this.topP = topP;
        this.random = new Random(seed);
    }

    public static Sampler greedy() { return new Sampler(0, 1, 0); }

    public int next(float[] logits) {
        if (temperature == 0) return argmax(logits);
        double max = logits[argmax(logits)];
        float[] p = new float[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) sum += p[i] = (float) Math.exp((logits[i] - max) / temperature);
        // most likely first, by sorting primitive keys (probability bits, which order like the values for p >= 0, then index)
        long[] order = new long[p.length];
        for (int i = 0; i < p.length; i++) order[i] = ((long) Float.floatToIntBits(p[i]) << 32) | i;
        java.util.Arrays.sort(order);
        // the smallest set of most likely tokens whose mass reaches top_p (always at least one)
        double kept = 0;
        int n = 0;
        while (n < order.length && (n == 0 || kept < topP * sum)) kept += p[token(order, n++)];
        double r = random.nextDouble() * kept;
        for (int i = 0; i < n; i++) {
            r -= p[token(order, i)];
            if (r <= 0) return token(order, i);
        }
        return token(order, n - 1);
    }

    /** The i-th most likely token of the ascending sorted keys. */
    private static int token(long[] order, int i) {
        return (int) order[order.length - 1 - i];
    }

    /** Index of the largest logit; the lowest index on ties, as torch.argmax. */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
