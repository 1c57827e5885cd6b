package dev.loraworkbench.trainer.train;

import dev.loraworkbench.trainer.recipe.Recipe.Schedule;

/**
 * Linear warmup, then cosine / linear decay to 0 or constant: transformers' get_*_schedule_with_warmup.
 * As there, the update of optimizer step s (1-based) uses the factor at s - 1.
 */
public record LrSchedule(double peak, Schedule kind, int warmupSteps, int totalSteps) {

    public double lrForStep(int step) {
        int s = step - 1;
        if (s < warmupSteps) return peak * s / Math.max(1, warmupSteps);
        double progress = (double) (s - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
        return switch (kind) {
            case CONSTANT -> peak;
            case LINEAR -> peak * Math.max(0.0, 1.0 - progress);
            case COSINE -> peak * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
        };
    }

    public static int warmupSteps(Integer steps, Double ratio, int totalSteps) {
        if (steps != null) return steps;
        if (ratio != null) return (int) Math.ceil(ratio * totalSteps);
        return 0;
    }
}
