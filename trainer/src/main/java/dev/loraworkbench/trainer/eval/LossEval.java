package dev.loraworkbench.trainer.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.util.List;

/** Teacher-forced loss over encoded examples: the mean over their trained (completion) tokens, and token accuracy. */
public final class LossEval {
    private LossEval() {}

    /** Mean loss and token accuracy over an evaluation set. */
    public record Result(double loss, double accuracy, long tokens) {
        public double perplexity() { return Math.exp(loss); }
    }

    /** Forwards in batches of {@code batchSize} (right-padded with {@code padId}), each in a scope closed after it. */
    public static Result run(Decoder decoder, NDManager manager, List<EncodedExample> examples, int batchSize, int padId) {
        double nll = 0;
        long tokens = 0;
        long correct = 0;
        for (int start = 0; start < examples.size(); start += batchSize) {
            Batch b = Batch.of(examples.subList(start, Math.min(start + batchSize, examples.size())), padId);
            try (NDManager scope = manager.newSubManager()) {
                NDArray ids = Tensors.of(scope, b.ids(), new Shape(b.rows(), b.seqLen()));
                TokenLoss.Result r = TokenLoss.of(decoder, decoder.hidden(ids, decoder.context(ids, b.lengths()), false), b.targets());
                nll += r.nllSum();
                tokens += r.tokens();
                correct += r.correct();
            }
        }
        return new Result(nll / Math.max(1, tokens), tokens == 0 ? 0 : (double) correct / tokens, tokens);
    }
}
