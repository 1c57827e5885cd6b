package dev.loraworkbench.trainer.generate;

import java.util.Arrays;
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
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) sum += p[i] = Math.exp((logits[i] - max) / temperature);
        Integer[] order = new Integer[p.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        // the smallest set of most likely tokens whose mass reaches top_p (always at least one)
        double kept = 0;
        int n = 0;
        while (n < order.length && (n == 0 || kept < topP * sum)) kept += p[order[n++]];
        double r = random.nextDouble() * kept;
        for (int i = 0; i < n; i++) {
            r -= p[order[i]];
            if (r <= 0) return order[i];
        }
        return order[n - 1];
    }

    /** Index of the largest logit; the lowest index on ties, as torch.argmax. */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
