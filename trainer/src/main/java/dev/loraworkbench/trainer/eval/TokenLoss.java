package dev.loraworkbench.trainer.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.tensor.Tensors;

/**
 * Summed next-token cross-entropy over the positions whose target is not ignored, and the number of
 * those positions the model already predicts (argmax). Targets are pre-shifted: target[t] = label[t+1].
 */
public final class TokenLoss {
    private TokenLoss() {}

    /** Result for one micro-batch: the differentiable summed loss, tokens counted, argmax hits. */
    public record Result(NDArray nllSum, long tokens, long correct) {}

    public static Result of(NDArray logits, long[] targets) {
        NDManager m = logits.getManager();
        Shape bt = new Shape(logits.getShape().get(0), logits.getShape().get(1));
        long[] index = new long[targets.length];
        float[] mask = new float[targets.length];
        long tokens = 0;
        for (int i = 0; i < targets.length; i++) {
            boolean used = targets[i] >= 0;
            index[i] = used ? targets[i] : 0;
            mask[i] = used ? 1f : 0f;
            if (used) tokens++;
        }
        NDArray idx = Tensors.of(m, index, bt);
        NDArray picked = logits.logSoftmax(2).gather(idx.expandDims(2), 2).squeeze(2); // [B, T] log p(target)
        NDArray nllSum = picked.mul(Tensors.of(m, mask, bt)).sum().neg();
        long[] argmax = logits.argMax(2).toLongArray();
        long correct = 0;
        for (int i = 0; i < targets.length; i++) if (targets[i] >= 0 && argmax[i] == targets[i]) correct++;
        return new Result(nllSum, tokens, correct);
    }
}
