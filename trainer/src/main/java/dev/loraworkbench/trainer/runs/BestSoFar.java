package dev.loraworkbench.trainer.runs;

import dev.loraworkbench.trainer.recipe.Recipe;

/**
 * The best evaluation of a run so far by training.metric_for_best, and how many evaluations since have not beaten it
 * (what early stopping counts). Saved in every checkpoint, so a resumed run selects and stops exactly as a straight one.
 *
 * @param value null until the first evaluation after step 0 (the base model is the baseline, not a candidate)
 */
public record BestSoFar(String metric, Double value, int step, int evalsWithoutImprovement) {

    public static BestSoFar none(String metric) {
        return new BestSoFar(metric, null, 0, 0);
    }

    /** After an evaluation at {@code step}: the new best if {@code v} beats it (NaN never does), else one more stale evaluation. */
    public BestSoFar after(int evalStep, double v) {
        boolean better = !Double.isNaN(v) && (value == null || (higherIsBetter() ? v > value : v < value));
        return better ? new BestSoFar(metric, v, evalStep, 0) : new BestSoFar(metric, value, step, evalsWithoutImprovement + 1);
    }

    /** True when the evaluation at {@code evalStep} set this best. */
    public boolean setAt(int evalStep) {
        return value != null && step == evalStep && evalsWithoutImprovement == 0;
    }

    /** Early stopping: {@code patience} evaluations in a row without a better value (never when patience is 0). */
    public boolean patienceRunOut(int patience) {
        return patience > 0 && evalsWithoutImprovement >= patience;
    }

    private boolean higherIsBetter() {
        return Recipe.Metric.byTag(metric).map(Recipe.Metric::higherIsBetter).orElse(false);
    }

    /** "eval/token_f1 0.5312 at step 120", or "none yet". */
    public String describe() {
        return value == null ? "none yet" : String.format("%s %.4f at step %d", metric, value, step);
    }
}
