package dev.loraworkbench.trainer.runs;

/**
 * Averages over the steps since the last log line, as TRL logs them. Saved in each checkpoint, so with
 * log_every > 1 a resumed run logs the same averages as an uninterrupted one.
 */
public record LogWindow(double lossTimesTokens, double gradNorm, long tokens, long correct, int steps) {
    public static final LogWindow EMPTY = new LogWindow(0, 0, 0, 0, 0);

    /** One more step; a step skipped for fp16 overflow adds its loss but not its (infinite) grad norm. */
    public LogWindow add(double loss, double stepGradNorm, long targetTokens, long correctTokens, boolean skipped) {
        boolean counted = !skipped;
        return new LogWindow(lossTimesTokens + loss * targetTokens, gradNorm + (counted ? stepGradNorm : 0), tokens + targetTokens,
                correct + correctTokens, steps + (counted ? 1 : 0));
    }

    public double loss() { return lossTimesTokens / Math.max(1, tokens); }

    public double accuracy() { return (double) correct / Math.max(1, tokens); }

    public double meanGradNorm() { return gradNorm / Math.max(1, steps); }
}
