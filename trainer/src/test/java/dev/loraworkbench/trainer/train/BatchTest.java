package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.trainer.eval.Batch;
import java.util.List;
import org.junit.jupiter.api.Test;

class BatchTest {
    private static final int I = EncodedExample.IGNORE;

    @Test
    void targetsAreShiftedLabelsAndPaddingIsIgnored() {
        // prompt 10 11, completion 12 13 (trained); second example shorter
        var a = new EncodedExample(new int[] {10, 11, 12, 13}, new int[] {I, I, 12, 13}, false);
        var b = new EncodedExample(new int[] {20, 21}, new int[] {I, 21}, false);
        Batch batch = Batch.of(List.of(a, b), 0);
        assertEquals(4, batch.seqLen());
        assertArrayEquals(new long[] {10, 11, 12, 13, 20, 21, 0, 0}, batch.ids());
        // position t predicts label t+1: the prompt's last token predicts the first completion token
        assertArrayEquals(new long[] {I, 12, 13, I, 21, I, I, I}, batch.targets());
        assertArrayEquals(new int[] {4, 2}, batch.lengths());
        assertEquals(3, batch.targetTokens());
        assertEquals(6, batch.inputTokens());
    }

    @Test
    void stepPlanCoversEveryExampleOncePerEpochInASeededOrder() {
        List<EncodedExample> examples = new java.util.ArrayList<>();
        for (int i = 0; i < 10; i++) examples.add(new EncodedExample(new int[] {i, i}, new int[] {I, i}, false));
        StepPlan plan = new StepPlan(examples, 2, 2, 5, 6);
        assertEquals(3, plan.stepsPerEpoch());
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int step = 1; step <= 3; step++) {
            for (var micro : plan.microBatches(step)) for (var e : micro) seen.add(e.ids()[0]);
        }
        assertEquals(10, seen.size());
        assertEquals(1, plan.microBatches(3).size(), "the last step of an epoch takes the remainder");
        assertEquals(plan.microBatches(4).toString(), new StepPlan(examples, 2, 2, 5, 6).microBatches(4).toString());
    }

    @Test
    void scheduleFollowsTransformers() {
        LrSchedule cosine = new LrSchedule(1.0, dev.loraworkbench.trainer.recipe.Recipe.Schedule.COSINE, 2, 10);
        assertEquals(0.0, cosine.lrForStep(1), 1e-12);
        assertEquals(0.5, cosine.lrForStep(2), 1e-12);
        assertEquals(1.0, cosine.lrForStep(3), 1e-12);
        assertEquals(0.5 * (1 + Math.cos(Math.PI * 7 / 8)), cosine.lrForStep(10), 1e-12);
        LrSchedule linear = new LrSchedule(1.0, dev.loraworkbench.trainer.recipe.Recipe.Schedule.LINEAR, 0, 4);
        assertEquals(1.0, linear.lrForStep(1), 1e-12);
        assertEquals(0.25, linear.lrForStep(4), 1e-12);
        assertEquals(3, LrSchedule.warmupSteps(null, 0.03, 100));
    }
}
