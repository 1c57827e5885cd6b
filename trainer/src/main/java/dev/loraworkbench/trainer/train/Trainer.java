package dev.loraworkbench.trainer.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.trainer.eval.Batch;
import dev.loraworkbench.trainer.eval.LossEval;
import dev.loraworkbench.trainer.eval.TokenLoss;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.tensor.Tensors;
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
    private final Settings settings;

    /**
     * How steps run.
     *
     * @param padId token id that pads short rows
     * @param maxGradNorm clip the global gradient norm to this (0: no clipping)
     * @param recompute layer-wise recomputation: keep only each layer's input in the forward, rebuild the layer in backward
     * @param scaler fp16 dynamic loss scaling, or null (fp32 / bf16)
     * @param checkpointType the type recomputation keeps layer inputs in: FLOAT32, or a half type (the forward then goes on
     *     from the rounded input too, so the recomputed layer sees exactly what the forward saw)
     */
    public record Settings(int padId, double maxGradNorm, boolean recompute, LossScaler scaler, DataType checkpointType) {
        /** Clipping at 1.0, plain backward, no loss scaling. */
        public static Settings of(int padId) {
            return new Settings(padId, 1.0, false, null, DataType.FLOAT32);
        }

        public Settings withRecompute(boolean on) {
            return new Settings(padId, maxGradNorm, on, scaler, checkpointType);
        }

        public Settings withCheckpointType(DataType type) {
            return new Settings(padId, maxGradNorm, recompute, scaler, type);
        }
    }

    /** What one optimizer step measured; {@code loss} is the mean over its completion tokens. */
    public record StepResult(double loss, double gradNorm, double lr, long targetTokens, long correct, long inputTokens, boolean skipped) {
        public double accuracy() { return targetTokens == 0 ? 0 : (double) correct / targetTokens; }
    }

    /** @param optimizer steps the parameters it was made with (null for a trainer that only evaluates) */
    public Trainer(Decoder decoder, AdamW optimizer, NDManager manager, Settings settings) {
        this.decoder = decoder;
        this.optimizer = optimizer;
        this.manager = manager;
        this.settings = settings;
    }

    public LossScaler scaler() { return settings.scaler(); }

    public StepResult step(List<List<EncodedExample>> microBatches, double lr) {
        NDList params = optimizer.parameters();
        LossScaler scaler = settings.scaler();
        try (NDManager step = manager.newSubManager()) {
            step.tempAttachAll(params.toArray(new NDArray[0]));
            step.tempAttachAll(optimizer.state().toArray(new NDArray[0]));
            double scale = scaler == null ? 1.0 : scaler.scale();
            Accumulated a = accumulateGradients(microBatches, step, scale);
            double norm = AdamW.gradNorm(params) / scale;
            double loss = a.nllSum() / Math.max(1, a.targets());
            if (scaler != null && Double.isFinite(loss) && !Double.isFinite(norm) && scaler.scale() <= 1.0) {
                // nothing left to back off: without this every remaining step would be skipped in silence
                throw new NonFiniteException(loss, norm, firstNonFiniteGradient(params) + ", at fp16 loss scale 1: use compute_dtype bf16 or fp32");
            }
            if (scaler != null && Double.isFinite(loss) && !scaler.update(Double.isFinite(norm))) {
                optimizer.discardGradients(); // fp16 overflow: the scale was halved; this step's update is dropped
                return new StepResult(loss, norm, lr, a.targets(), a.correct(), a.inputs(), true);
            }
            if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
                throw new NonFiniteException(loss, norm, firstNonFiniteGradient(params));
            }
            double clip = settings.maxGradNorm() > 0 && norm > settings.maxGradNorm() ? settings.maxGradNorm() / (norm + 1e-6) : 1.0;
            optimizer.step(lr, clip / scale);
            return new StepResult(loss, norm, lr, a.targets(), a.correct(), a.inputs(), false);
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
        return accumulateGradients(microBatches, scope, 1.0);
    }

    /** @param lossScale multiplies the loss before backward (fp16 loss scaling); the gradients come out scaled by it */
    Accumulated accumulateGradients(List<List<EncodedExample>> microBatches, NDManager scope, double lossScale) {
        List<Batch> batches = microBatches.stream().map(b -> Batch.of(b, settings.padId())).toList();
        long targets = batches.stream().mapToLong(Batch::targetTokens).sum();
        double divisor = Math.max(1, targets) / lossScale;
        long inputs = batches.stream().mapToLong(Batch::inputTokens).sum();
        double nllSum = 0;
        long correct = 0;
        for (Batch b : batches) {
            if (settings.recompute()) {
                try (NDManager micro = scope.newSubManager()) {
                    double[] sums = backwardWithRecomputation(b, micro, divisor);
                    nllSum += sums[0];
                    correct += (long) sums[1];
                }
                continue;
            }
            try (NDManager micro = scope.newSubManager();
                 GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray ids = Tensors.of(micro, b.ids(), new Shape(b.rows(), b.seqLen()));
                NDArray hidden = decoder.hidden(ids, context(ids, b), true);
                // the loss back-propagates chunk by chunk into a detached copy, then the layers get its gradient at once
                NDArray leaf = hidden.stopGradient();
                leaf.setRequiresGradient(true);
                TokenLoss.Result r = TokenLoss.backward(decoder, leaf, b.targets(), collector, divisor);
                if (r.tokens() > 0) JniUtils.backward((PtNDArray) hidden, (PtNDArray) leaf.getGradient(), false, false);
                nllSum += r.nllSum();
                correct += r.correct();
            }
        }
        return new Accumulated(nllSum, targets, correct, inputs);
    }

    /**
     * Layer-wise recomputation (gradient checkpointing): a forward without a graph keeps only each layer's
     * input; the head's backward gives dL/d(last hidden); then, last layer first, each layer is run again with a
     * graph from its saved input and back-propagated with the upstream gradient. Peak memory is the saved
     * inputs plus one layer. Dropout draws are reseeded per layer so the recomputed layer sees the same masks.
     *
     * @return {summed loss, correct predictions}
     */
    private double[] backwardWithRecomputation(Batch b, NDManager micro, double divisor) {
        Engine engine = Engine.getEngine("PyTorch");
        NDArray ids = Tensors.of(micro, b.ids(), new Shape(b.rows(), b.seqLen()));
        Decoder.Context ctx = context(ids, b);
        int layers = decoder.config().numLayers();
        int seed = micro.randomInteger(0, Integer.MAX_VALUE, new Shape(1), DataType.INT32).getInt(); // from the step's RNG state
        // a sequence too long for one layer's graph is recomputed in pieces (tiles of tokens, blocks of queries)
        LayerPieces pieces = LayerPieces.needed(decoder, ctx) ? new LayerPieces(decoder, ctx, engine) : null;
        DataType kept = settings.checkpointType();
        NDArray x = decoder.embed(ids);
        // every layer's input goes into one tensor made before the loop: inputs kept one by one would sit between the
        // layers' freed temporaries in glibc's heap and keep them from joining (0.4 GB of the ~135M preset's peak)
        NDArray saved = micro.zeros(new Shape(layers).addAll(x.getShape()), kept);
        for (int i = 0; i < layers; i++) {
            try (NDManager layer = micro.newSubManager()) {
                x.attach(layer); // the layer's temporaries land in its own scope, and x is freed with them: saved holds it
                if (kept != DataType.FLOAT32) {
                    // the forward continues from the rounded input, so the recomputed layer sees exactly what it saw
                    NDArray rounded = x.toType(kept, false);
                    saved.set(new NDIndex(i), rounded);
                    x = rounded.toType(DataType.FLOAT32, false);
                } else {
                    saved.set(new NDIndex(i), x);
                }
                engine.setRandomSeed(seed + 7919 * i);
                NDArray next = pieces != null ? pieces.forward(x, i, seed) : decoder.layer(x, i, ctx, true);
                next.attach(micro);
                x = next;
            }
        }
        double nll;
        long correct;
        NDArray upstream;
        try (NDManager head = micro.newSubManager(); GradientCollector collector = engine.newGradientCollector()) {
            x.tempAttach(head);
            NDArray leaf = x.duplicate();
            leaf.setRequiresGradient(true);
            TokenLoss.Result r = TokenLoss.backward(decoder, leaf, b.targets(), collector, divisor);
            nll = r.nllSum();
            correct = r.correct();
            if (r.tokens() == 0) return new double[] {0, 0}; // nothing to learn from: no gradient to send down
            upstream = leaf.getGradient().duplicate();
            upstream.attach(micro);
        }
        for (int i = layers - 1; i >= 0; i--) {
            try (NDManager layer = micro.newSubManager()) {
                NDArray input = saved.get(i); // a view: freed with the layer, its data stays in saved
                input.attach(layer);
                if (kept != DataType.FLOAT32) input = input.toType(DataType.FLOAT32, false);
                NDArray below = pieces != null ? pieces.backward(input, upstream, i, seed) : backwardLayer(input, upstream, i, ctx, seed, engine);
                if (i > 0) {
                    below = below.duplicate();
                    below.attach(micro);
                }
                upstream.close();
                upstream = i > 0 ? below : null;
            }
        }
        return new double[] {nll, correct};
    }

    /** Layer i rebuilt with a graph from its saved input and back-propagated with dL/dy: gives dL/dx. */
    private NDArray backwardLayer(NDArray input, NDArray upstream, int i, Decoder.Context ctx, int seed, Engine engine) {
        try (GradientCollector collector = engine.newGradientCollector()) {
            NDArray leaf = input.duplicate();
            leaf.setRequiresGradient(true);
            engine.setRandomSeed(seed + 7919 * i);
            NDArray y = decoder.layer(leaf, i, ctx, true);
            JniUtils.backward((PtNDArray) y, (PtNDArray) upstream, false, false);
            return leaf.getGradient();
        }
    }

    /** Packed rows keep their examples apart (block-diagonal mask, positions per example); plain rows mask only padding. */
    private Decoder.Context context(NDArray ids, Batch b) {
        return b.packed() ? decoder.context(ids, b.segments()) : decoder.context(ids, b.lengths());
    }

    /** Teacher-forced loss of the model as it is now (no dropout). */
    public LossEval.Result evaluate(List<EncodedExample> examples, int batchSize) {
        return LossEval.run(decoder, manager, examples, batchSize, settings.padId());
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
