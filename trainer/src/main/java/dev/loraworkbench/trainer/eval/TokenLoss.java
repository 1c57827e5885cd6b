package dev.loraworkbench.trainer.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.util.Arrays;

/**
 * Summed next-token cross-entropy over the positions whose target is not ignored, and how many of them the model
 * already predicts (argmax), computed from the last hidden state without ever holding the whole logits matrix: only
 * positions that carry a label go through the final norm and lm_head (a Q&A example's prompt never does), a chunk
 * of them at a time. With gradients, each chunk is back-propagated before the next one is computed, so at most one
 * chunk's logits, log-probabilities and their gradient exist at once (TRL's chunked_nll, torchtune's
 * LinearCrossEntropyLoss). Targets are pre-shifted: target[t] = label[t+1].
 */
public final class TokenLoss {
    private TokenLoss() {}

    /** One micro-batch: summed loss over its labelled positions, tokens counted, argmax hits. */
    public record Result(double nllSum, long tokens, long correct) {}

    /** Loss without gradients (evaluation) from hidden states [B, T, H]. */
    public static Result of(Decoder decoder, NDArray hidden, long[] targets) {
        return run(decoder, hidden, targets, null, 0, decoder.headChunk());
    }

    /**
     * Loss from hidden states [B, T, H] (a leaf that requires gradient), each chunk's summed loss divided by
     * {@code divisor} and back-propagated through {@code collector}: the gradient lands in {@code hidden} (and in the
     * head's weights where they are trained).
     */
    public static Result backward(Decoder decoder, NDArray hidden, long[] targets, GradientCollector collector, double divisor) {
        return backward(decoder, hidden, targets, collector, divisor, decoder.headChunk());
    }

    /** As above with chunks of {@code chunk} positions (tests cut a small batch into several). */
    public static Result backward(Decoder decoder, NDArray hidden, long[] targets, GradientCollector collector, double divisor, int chunk) {
        return run(decoder, hidden, targets, collector, divisor, chunk);
    }

    private static Result run(Decoder decoder, NDArray hidden, long[] targets, GradientCollector collector, double divisor, int chunk) {
        long[] positions = new long[targets.length];
        int n = 0;
        for (int i = 0; i < targets.length; i++) if (targets[i] >= 0) positions[n++] = i;
        long h = hidden.getShape().get(hidden.getShape().dimension() - 1);
        double nll = 0;
        long correct = 0;
        for (int start = 0; start < n; start += chunk) {
            int end = Math.min(n, start + chunk);
            try (NDManager scope = hidden.getManager().newSubManager()) {
                hidden.tempAttach(scope); // the chunk's arrays land in the scope of their first operand: this one
                long[] at = Arrays.copyOfRange(positions, start, end);
                long[] wanted = new long[at.length];
                for (int i = 0; i < at.length; i++) wanted[i] = targets[(int) at[i]];
                NDArray rows = hidden.reshape(-1, h).get(new NDIndex("{}", Tensors.of(scope, at, new Shape(at.length))));      // [C, H]
                NDArray logits = decoder.head(rows);                                                                              // [C, V]
                NDArray picked = logits.logSoftmax(1).gather(Tensors.of(scope, wanted, new Shape(at.length, 1)), 1);          // [C, 1]
                NDArray chunkNll = picked.sum().neg();
                if (collector != null) collector.backward(chunkNll.div(Tensors.scalar(scope, divisor)));
                nll += chunkNll.getFloat();
                long[] argmax = logits.argMax(1).toLongArray();
                for (int i = 0; i < at.length; i++) if (argmax[i] == wanted[i]) correct++;
            }
        }
        return new Result(nll, n, correct);
    }
}
