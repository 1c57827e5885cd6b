package dev.loraworkbench.trainer.train;

import dev.loraworkbench.datasets.EncodedExample;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Which examples each optimizer step sees: every epoch is a seeded shuffle of the training set, cut
 * into steps of micro_batch_size × grad_accum examples and those into micro-batches. A pure function
 * of (seed, step), so a rerun (or a resumed run) sees exactly the same data.
 */
public record StepPlan(List<EncodedExample> examples, int microBatchSize, int gradAccum, long seed, int totalSteps) {

    public int stepsPerEpoch() {
        int perStep = microBatchSize * gradAccum;
        return (examples.size() + perStep - 1) / perStep;
    }

    public static int totalSteps(Integer epochs, Integer maxSteps, int examples, int microBatchSize, int gradAccum) {
        if (maxSteps != null) return maxSteps;
        int perStep = microBatchSize * gradAccum;
        return (epochs == null ? 1 : epochs) * ((examples + perStep - 1) / perStep);
    }

    /** Micro-batches of optimizer step {@code step} (1-based). */
    public List<List<EncodedExample>> microBatches(int step) {
        int epoch = (step - 1) / stepsPerEpoch();
        int inEpoch = (step - 1) % stepsPerEpoch();
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < examples.size(); i++) order.add(i);
        Collections.shuffle(order, new Random(seed * 1_000_003L + epoch));
        int perStep = microBatchSize * gradAccum;
        int from = inEpoch * perStep;
        int to = Math.min(from + perStep, examples.size());
        List<List<EncodedExample>> micro = new ArrayList<>();
        for (int start = from; start < to; start += microBatchSize) {
            List<EncodedExample> batch = new ArrayList<>();
            for (int i = start; i < Math.min(start + microBatchSize, to); i++) batch.add(examples.get(order.get(i)));
            micro.add(batch);
        }
        return micro;
    }

    public double epochAt(int step) {
        return (double) step / stepsPerEpoch();
    }
}
