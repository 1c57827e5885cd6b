package dev.loraworkbench.trainer.train;

import dev.loraworkbench.trainer.model.Tensors;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.trainer.model.Decoder;
import java.util.List;

/**
 * One optimizer step and one evaluation pass: forward, masked loss, backward over the micro-batches
 * of a step, grad-norm, clipping, AdamW. Everything a step creates lives in a sub-manager that is
 * closed when the step ends, so memory stays flat however long the run.
 */
public final class Trainer {
    private final Decoder decoder;
    private final AdamW optimizer;
    private final NDManager manager;
    private final int padId;
    private final double maxGradNorm;

    /** What one optimizer step measured; {@code loss} is the mean over its completion tokens. */
    public record StepResult(double loss, double gradNorm, double lr, long targetTokens, long correct, long inputTokens) {
        public double accuracy() { return targetTokens == 0 ? 0 : (double) correct / targetTokens; }
    }

    /** Mean loss and token accuracy over an evaluation set. */
    public record EvalResult(double loss, double accuracy, long tokens) {}

    public Trainer(Decoder decoder, AdamW optimizer, NDManager manager, int padId, double maxGradNorm) {
        this.decoder = decoder;
        this.optimizer = optimizer;
        this.manager = manager;
        this.padId = padId;
        this.maxGradNorm = maxGradNorm;
    }

    public StepResult step(List<List<EncodedExample>> microBatches, double lr) {
        NDList params = decoder.lora().parameters();
        try (NDManager step = manager.newSubManager()) {
            step.tempAttachAll(params.toArray(new NDArray[0]));
            step.tempAttachAll(optimizer.state().toArray(new NDArray[0]));
            Accumulated a = accumulateGradients(microBatches, step);
            double norm = AdamW.gradNorm(params);
            double loss = a.nllSum() / Math.max(1, a.targets());
            if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
                throw new NonFiniteException(loss, norm, firstNonFiniteGradient(params));
            }
            double clip = maxGradNorm > 0 && norm > maxGradNorm ? maxGradNorm / (norm + 1e-6) : 1.0;
            optimizer.step(lr, clip);
            return new StepResult(loss, norm, lr, a.targets(), a.correct(), a.inputs());
        }
    }

    /** Sums of one accumulated step. */
    record Accumulated(double nllSum, long targets, long correct, long inputs) {}

    /**
     * Forward and backward over each micro-batch; gradients add up in the LoRA parameters. Each
     * micro-batch's loss is divided by the completion tokens of the whole step (as transformers and TRL
     * do), so accumulating 4 x 1 equals one batch of 4.
     */
    Accumulated accumulateGradients(List<List<EncodedExample>> microBatches, NDManager scope) {
        List<Batch> batches = microBatches.stream().map(b -> Batch.of(b, padId)).toList();
        long targets = batches.stream().mapToLong(Batch::targetTokens).sum();
        long inputs = batches.stream().mapToLong(Batch::inputTokens).sum();
        double nllSum = 0;
        long correct = 0;
        for (Batch b : batches) {
            try (NDManager micro = scope.newSubManager();
                 GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray ids = Tensors.of(micro, b.ids(), new Shape(b.rows(), b.seqLen()));
                TokenLoss.Result r = TokenLoss.of(decoder.logits(ids, b.lengths(), true), b.targets());
                collector.backward(r.nllSum().div(Tensors.scalar(micro, Math.max(1, targets))));
                nllSum += r.nllSum().getFloat();
                correct += r.correct();
            }
        }
        return new Accumulated(nllSum, targets, correct, inputs);
    }

    public EvalResult evaluate(List<EncodedExample> examples, int batchSize) {
        double nll = 0;
        long tokens = 0;
        long correct = 0;
        for (int start = 0; start < examples.size(); start += batchSize) {
            Batch b = Batch.of(examples.subList(start, Math.min(start + batchSize, examples.size())), padId);
            try (NDManager scope = manager.newSubManager()) {
                NDArray ids = Tensors.of(scope, b.ids(), new Shape(b.rows(), b.seqLen()));
                TokenLoss.Result r = TokenLoss.of(decoder.logits(ids, b.lengths(), false), b.targets());
                nll += r.nllSum().getFloat();
                tokens += r.tokens();
                correct += r.correct();
            }
        }
        return new EvalResult(nll / Math.max(1, tokens), tokens == 0 ? 0 : (double) correct / tokens, tokens);
    }

    private static String firstNonFiniteGradient(NDList params) {
        for (NDArray p : params) {
            for (float g : p.getGradient().toFloatArray()) {
                if (!Float.isFinite(g)) return p.getName();
            }
        }
        return null;
    }

    /** Loss or gradient norm became NaN or infinite. */
    public static final class NonFiniteException extends RuntimeException {
        public NonFiniteException(double loss, double norm, String parameter) {
            super("loss " + loss + ", grad norm " + norm + (parameter == null ? "" : " (first non-finite gradient: " + parameter + ")"));
        }
    }
}
