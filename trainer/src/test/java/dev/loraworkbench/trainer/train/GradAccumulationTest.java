package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.ExampleEncoder;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.datasets.TruncationPolicy;
import dev.loraworkbench.trainer.device.EngineJni;
import dev.loraworkbench.trainer.device.HalfPrecision;
import dev.loraworkbench.trainer.loader.ModelLoader;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.LoraLinear;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.FrozenLinear;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The LoRA gradients a step computes: checked against finite differences, and kept equal under gradient
 * accumulation, layer recomputation and half-precision compute.
 */
class GradAccumulationTest {

    @Test
    void accumulatedMicroBatchesEqualOneBigBatch() {
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir());
             HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir());
             NDManager manager = NDManager.newBaseManager("PyTorch")) {
            List<EncodedExample> four = samples(tok, 256, 0, 4);
            assertTrue(four.stream().mapToInt(e -> e.ids().length).distinct().count() > 1, "lengths differ, so padding is exercised");

            var settings = new LoraAdapter.LoraSettings(4, 8, 0, Projection.NAMES, false);
            LoraAdapter lora = randomAdapter(ckpt, settings, manager);
            Decoder decoder = new Decoder(ckpt.config(), lora.applyTo(DecoderWeights.load(ckpt, manager)));
            Trainer trainer = new Trainer(decoder, new AdamW(lora.parameters(), 0, manager), manager, Trainer.Settings.of(tok.padId()));

            List<float[]> bigGrads;
            Trainer.Accumulated big;
            try (NDManager scope = manager.newSubManager()) {
                big = trainer.accumulateGradients(List.of(four), scope);
                bigGrads = gradientsAndZero(lora);
            }
            List<float[]> accGrads;
            Trainer.Accumulated acc;
            try (NDManager scope = manager.newSubManager()) {
                acc = trainer.accumulateGradients(four.stream().map(List::of).toList(), scope);
                accGrads = gradientsAndZero(lora);
            }
            assertEquals(big.targets(), acc.targets());
            assertEquals(big.nllSum() / big.targets(), acc.nllSum() / acc.targets(), 1e-5);
            double[] absDiff = maxAbsAndDifference(bigGrads, accGrads);
            double maxAbs = absDiff[0];
            double maxDiff = absDiff[1];
            assertTrue(maxAbs > 1e-4, "gradients are not trivially zero: " + maxAbs);
            assertTrue(maxDiff <= 1e-4 * maxAbs, "max gradient difference " + maxDiff + " vs max gradient " + maxAbs);
        }
    }

    /** Layer-wise recomputation gives the gradients of a plain backward (fp32 base and nf4 base). */
    @Test
    void recomputationGivesTheSameGradients() {
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir());
             HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir());
             NDManager manager = NDManager.newBaseManager("PyTorch")) {
            List<EncodedExample> batch = samples(tok, 256, 4, 8);
            var settings = new LoraAdapter.LoraSettings(4, 8, 0, Projection.NAMES, false);
            for (var quantization : new Quantization[] {null,
                    new Quantization(dev.loraworkbench.trainer.quant.Codebook.NF4, 64, true)}) {
                LoraAdapter lora = randomAdapter(ckpt, settings, manager);
                Decoder decoder = new Decoder(ckpt.config(), lora.applyTo(ModelLoader.weights(ckpt, manager, quantization)));
                List<float[]> plain, recomputed;
                Trainer.Accumulated a, b;
                try (NDManager scope = manager.newSubManager()) {
                    a = new Trainer(decoder, new AdamW(lora.parameters(), 0, manager), manager, Trainer.Settings.of(tok.padId()))
                            .accumulateGradients(List.of(batch.subList(0, 2), batch.subList(2, 4)), scope);
                    plain = gradientsAndZero(lora);
                }
                try (NDManager scope = manager.newSubManager()) {
                    b = new Trainer(decoder, new AdamW(lora.parameters(), 0, manager), manager, Trainer.Settings.of(tok.padId()).withRecompute(true))
                            .accumulateGradients(List.of(batch.subList(0, 2), batch.subList(2, 4)), scope);
                    recomputed = gradientsAndZero(lora);
                }
                assertEquals(a.nllSum(), b.nllSum(), 1e-6 * Math.abs(a.nllSum()));
                assertEquals(a.correct(), b.correct());
                double[] absDiff = maxAbsAndDifference(plain, recomputed);
                double maxAbs = absDiff[0];
                double maxDiff = absDiff[1];
                assertTrue(maxAbs > 1e-4, "non-trivial gradients");
                assertTrue(maxDiff <= 1e-6 * maxAbs, (quantization == null ? "fp32" : "nf4") + ": max difference " + maxDiff + " of " + maxAbs);

                // long-sequence mode, forced on these short rows: attention over blocks of 5 query rows, the layer's other
                // parts over tiles of 13 tokens, each piece recomputed and back-propagated alone; and blocks in a plain backward
                int longest = batch.stream().mapToInt(e -> e.ids().length).max().orElseThrow();
                Decoder blocked = decoder.withBlockSizes(2L * ckpt.config().numHeads() * longest * 5, 2L * ckpt.config().intermediateSize() * 13);
                for (boolean recompute : new boolean[] {true, false}) {
                    Trainer.Accumulated c;
                    List<float[]> inPieces;
                    try (NDManager scope = manager.newSubManager()) {
                        c = new Trainer(blocked, new AdamW(lora.parameters(), 0, manager), manager, Trainer.Settings.of(tok.padId()).withRecompute(recompute))
                                .accumulateGradients(List.of(batch.subList(0, 2), batch.subList(2, 4)), scope);
                        inPieces = gradientsAndZero(lora);
                    }
                    String what = (quantization == null ? "fp32" : "nf4") + (recompute ? ", recomputed in pieces" : ", blocked attention");
                    assertEquals(a.nllSum(), c.nllSum(), 1e-5 * Math.abs(a.nllSum()), what);
                    assertEquals(a.correct(), c.correct(), what);
                    double[] d = maxAbsAndDifference(plain, inPieces);
                    System.out.printf("%s: max gradient difference %.2e of %.2e%n", what, d[1], d[0]);
                    assertTrue(d[1] <= 1e-5 * d[0], what + ": max difference " + d[1] + " of " + d[0]);
                }
            }
        }
    }

    /**
     * Half-precision compute (projections, embeddings and lm_head in fp16 / bf16, fp32 everywhere else; fp16 with a loss scale): the
     * gradients, unscaled, are those of fp32 compute within the half type's rounding (plain and nf4 base, plain and
     * recomputed backward). bf16 runs only on an engine whose JNI maps bf16 (trainer/scripts/setup-spark.sh);
     * the stock DJL natives abort on it, so there it is skipped, and fp16 must work.
     */
    @ParameterizedTest
    @EnumSource(value = Recipe.ComputeDtype.class, names = {"FP16", "BF16"})
    void halfPrecisionComputeGivesTheFp32Gradients(Recipe.ComputeDtype dtype) {
        DataType type = HalfPrecision.dataType(dtype);
        Device device = Engine.getEngine("PyTorch").defaultDevice(); // where the managers below compute
        boolean stockNatives = System.getenv("PYTORCH_LIBRARY_PATH") == null;
        if (!(dtype == Recipe.ComputeDtype.FP16 && stockNatives)) {
            HalfPrecision.Probe probe = HalfPrecision.probe(type, device);
            if (dtype == Recipe.ComputeDtype.BF16 && EngineJni.loadedIsBf16Patched()) {
                assertTrue(probe.usable(), "the JNI has the bf16 patch, yet: " + probe.detail());
            }
            assumeTrue(probe.usable(), dtype + " is not usable with this engine: " + probe.detail());
        }
        // bf16 keeps fp32's range (no scaling needed) but only 8 mantissa bits to fp16's 11
        double lossScale = dtype == Recipe.ComputeDtype.FP16 ? 1024 : 1;
        // measured on tiny-qwen2: fp16 cosine 1.000000, max diff 0.1 % of the largest; bf16 0.99998, 0.7 %
        double minCosine = dtype == Recipe.ComputeDtype.FP16 ? 0.9999 : 0.9995;
        double maxRelDiff = 2e-2;
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir());
             HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir());
             NDManager manager = NDManager.newBaseManager("PyTorch")) {
            List<EncodedExample> batch = samples(tok, 128, 8, 10);
            var settings = new LoraAdapter.LoraSettings(4, 8, 0, Projection.NAMES, false);
            for (var quantization : new Quantization[] {null,
                    new Quantization(dev.loraworkbench.trainer.quant.Codebook.NF4, 64, false)}) {
                LoraAdapter lora = randomAdapter(ckpt, settings, manager);
                List<float[]> reference;
                Trainer.Accumulated a;
                try (NDManager scope = manager.newSubManager()) {
                    Decoder fp32 = new Decoder(ckpt.config(), lora.applyTo(ModelLoader.weights(ckpt, manager, quantization)));
                    a = new Trainer(fp32, new AdamW(lora.parameters(), 0, manager), manager, Trainer.Settings.of(tok.padId())).accumulateGradients(List.of(batch), scope);
                    reference = gradientsAndZero(lora);
                }
                Decoder half = new Decoder(ckpt.config(), lora.applyTo(ModelLoader.weights(ckpt, manager, quantization, type)));
                if (quantization == null) assertEquals(type, ((FrozenLinear) ((LoraLinear) half.weights().layers().get(0).q()).base()).weight().getDataType(), "projection weights stored in " + type);
                assertEquals(type, half.weights().embedTokens().getDataType(), "frozen embeddings stored in " + type);
                assertEquals(type, half.weights().lmHead().getDataType(), "frozen lm_head stored in " + type);
                for (int mode = 0; mode < 3; mode++) {
                    boolean recompute = mode > 0;
                    // mode 2: the layer inputs recomputation keeps are stored in the half type too (training.checkpoint_dtype)
                    var steps = Trainer.Settings.of(tok.padId()).withRecompute(recompute).withCheckpointType(mode == 2 ? type : DataType.FLOAT32);
                    Trainer.Accumulated b;
                    List<float[]> scaled;
                    try (NDManager scope = manager.newSubManager()) {
                        b = new Trainer(half, new AdamW(lora.parameters(), 0, manager), manager, steps)
                                .accumulateGradients(List.of(batch), scope, lossScale);
                        scaled = gradientsAndZero(lora);
                    }
                    assertEquals(a.nllSum() / a.targets(), b.nllSum() / b.targets(), 5e-3, "loss in " + dtype + " compute");
                    double dot = 0, nr = 0, nh = 0, maxAbs = 0, maxDiff = 0;
                    for (int i = 0; i < reference.size(); i++) {
                        for (int j = 0; j < reference.get(i).length; j++) {
                            double r = reference.get(i)[j];
                            double h = scaled.get(i)[j] / lossScale;
                            dot += r * h;
                            nr += r * r;
                            nh += h * h;
                            maxAbs = Math.max(maxAbs, Math.abs(r));
                            maxDiff = Math.max(maxDiff, Math.abs(r - h));
                        }
                    }
                    String what = (quantization == null ? "" : "nf4 + ") + dtype + (recompute ? ", recomputed" : "") + (mode == 2 ? ", " + dtype + " layer inputs" : "");
                    System.out.printf("%s: loss %.5f vs fp32 %.5f, gradient cosine %.6f, max difference %.2e of %.2e%n", what,
                            b.nllSum() / b.targets(), a.nllSum() / a.targets(), dot / Math.sqrt(nr * nh), maxDiff, maxAbs);
                    assertTrue(dot / Math.sqrt(nr * nh) > minCosine, what + ": cosine " + dot / Math.sqrt(nr * nh));
                    assertTrue(maxDiff <= maxRelDiff * maxAbs, what + ": max difference " + maxDiff + " of " + maxAbs);
                }
            }
        }
    }

    /**
     * Autograd against finite differences, the peer that shares nothing with it: for the LoRA entries with the
     * largest gradients (A and B, every projection kind), (L(θ+ε) − L(θ−ε)) / 2ε of the mean token loss from a
     * forward-only evaluation equals the gradient the training step computes. Catches a cut graph (DJL's toType
     * cuts it), a wrong loss normalisation or a mask that differs between training and evaluation; on a plain and an
     * nf4 base, with the full and the recomputed backward.
     */
    @Test
    void gradientsMatchFiniteDifferences() {
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir());
             HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir());
             NDManager manager = NDManager.newBaseManager("PyTorch")) {
            List<EncodedExample> batch = samples(tok, 96, 20, 22);
            var settings = new LoraAdapter.LoraSettings(4, 8, 0, Projection.NAMES, false);
            for (var quantization : new Quantization[] {null,
                    new Quantization(dev.loraworkbench.trainer.quant.Codebook.NF4, 64, false)}) {
                DecoderWeights weights = ModelLoader.weights(ckpt, manager, quantization);
                LoraAdapter lora = randomAdapter(ckpt, settings, manager);
                for (boolean recompute : new boolean[] {false, true}) {
                    Map<String, float[][]> grads = new LinkedHashMap<>(); // module -> {dA, dB}
                    try (NDManager scope = manager.newSubManager()) {
                        new Trainer(new Decoder(ckpt.config(), lora.applyTo(weights)), new AdamW(lora.parameters(), 0, manager), manager, Trainer.Settings.of(tok.padId()).withRecompute(recompute))
                                .accumulateGradients(List.of(batch), scope);
                        lora.pairs().forEach((module, pair) -> grads.put(module, new float[][] {pair.a().getGradient().toFloatArray(), pair.b().getGradient().toFloatArray()}));
                        lora.parameters().forEach(p -> JniUtils.zeroGrad((PtNDArray) p));
                    }
                    String what = (quantization == null ? "fp32" : "nf4") + (recompute ? ", recomputed" : "");
                    checkAgainstFiniteDifferences(what, grads, (module, ab, index, delta) -> lossWith(ckpt, weights, lora, module, ab, index, delta, batch, tok, manager));
                }
            }
        }
    }

    /**
     * With dropout, recomputation must rebuild each layer, and each piece of a layer cut into tiles and query blocks, with
     * the masks its forward drew: otherwise the gradient is that of another function. The loss of a step with fixed
     * masks (the engine reseeded alike before each) is smooth in the LoRA weights, so its finite differences check the
     * gradient the step computes, here at dropout 0.3 where a mismatched mask would be far off.
     */
    @Test
    void dropoutMasksAgreeBetweenForwardAndRecomputation() {
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir());
             HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir());
             NDManager manager = NDManager.newBaseManager("PyTorch")) {
            List<EncodedExample> batch = samples(tok, 96, 20, 22);
            var settings = new LoraAdapter.LoraSettings(4, 8, 0.3, Projection.NAMES, false);
            DecoderWeights weights = ModelLoader.weights(ckpt, manager, null);
            LoraAdapter lora = randomAdapter(ckpt, settings, manager);
            int longest = batch.stream().mapToInt(e -> e.ids().length).max().orElseThrow();
            long[] pieces = {2L * ckpt.config().numHeads() * longest * 5, 2L * ckpt.config().intermediateSize() * 13};
            long[] whole = {Decoder.SCORE_FLOATS, Decoder.ACTIVATION_FLOATS};
            record Mode(String name, boolean recompute, long[] blocks) {}
            for (Mode mode : List.of(new Mode("plain backward", false, whole), new Mode("recomputed layers", true, whole),
                    new Mode("recomputed in pieces", true, pieces))) {
                Map<String, float[][]> grads = new LinkedHashMap<>();
                double base = lossWithDropout(ckpt, weights, lora, null, 0, 0, 0, batch, tok, manager, mode.recompute(), mode.blocks(), grads);
                checkAgainstFiniteDifferences("dropout 0.3, " + mode.name(), grads, (module, ab, index, delta) ->
                        lossWithDropout(ckpt, weights, lora, module, ab, index, delta, batch, tok, manager, mode.recompute(), mode.blocks(), null));
                double noDropout = new Trainer(new Decoder(ckpt.config(), lora.applyTo(weights)), null, manager, Trainer.Settings.of(tok.padId()))
                        .evaluate(batch, batch.size()).loss();
                assertTrue(Math.abs(base - noDropout) > 1e-3, mode.name() + ": dropout changes the loss (" + base + " vs " + noDropout + "), or this proves nothing");
            }
        }
    }

    /** The loss of a step with one LoRA entry (module, A or B, index) moved by delta. */
    private interface LossAt {
        double at(String module, int ab, int index, double delta);
    }

    /**
     * For each projection kind and each of A and B, the largest gradient entry over all layers (finite differences resolve
     * it well in fp32) must equal the central difference of the loss within 2 % + 2e-4.
     */
    private static void checkAgainstFiniteDifferences(String what, Map<String, float[][]> grads, LossAt loss) {
        int checked = 0;
        double worst = 0;
        for (String kind : Projection.NAMES) {
            for (int ab = 0; ab < 2; ab++) {
                String bestModule = null;
                int bestIndex = -1;
                for (var e : grads.entrySet()) {
                    if (!e.getKey().endsWith(kind)) continue;
                    float[] g = e.getValue()[ab];
                    for (int i = 0; i < g.length; i++) {
                        if (bestModule == null || Math.abs(g[i]) > Math.abs(grads.get(bestModule)[ab][bestIndex])) {
                            bestModule = e.getKey();
                            bestIndex = i;
                        }
                    }
                }
                double autograd = grads.get(bestModule)[ab][bestIndex];
                double eps = 1e-2;
                double numeric = (loss.at(bestModule, ab, bestIndex, eps) - loss.at(bestModule, ab, bestIndex, -eps)) / (2 * eps);
                String where = what + ": " + bestModule + (ab == 0 ? ".lora_A" : ".lora_B") + "[" + bestIndex + "]";
                assertTrue(Math.abs(autograd) > 1e-3, where + ": gradient " + autograd + " too small to check");
                assertEquals(autograd, numeric, 0.02 * Math.abs(autograd) + 2e-4, where);
                worst = Math.max(worst, Math.abs(autograd - numeric) / Math.abs(autograd));
                checked++;
            }
        }
        assertEquals(2 * Projection.NAMES.size(), checked);
        System.out.printf("%s: %d LoRA entries, autograd vs finite differences within %.2f%%%n", what, checked, 100 * worst);
    }

    /**
     * The training loss of one step (dropout on, the engine reseeded first, so every call draws the same masks) with one
     * LoRA entry moved by {@code delta} ({@code module} null: none); {@code grads}, if given, receives the step's gradients.
     */
    private static double lossWithDropout(HfCheckpoint ckpt, DecoderWeights weights, LoraAdapter lora, String module, int ab, int index, double delta,
            List<EncodedExample> batch, TokenizerFiles tok, NDManager manager, boolean recompute, long[] blocks, Map<String, float[][]> grads) {
        try (NDManager scope = manager.newSubManager()) {
            var pairs = new LinkedHashMap<String, LoraAdapter.Pair>(lora.pairs());
            if (module != null) {
                LoraAdapter.Pair p = pairs.get(module);
                NDArray target = ab == 0 ? p.a() : p.b();
                float[] values = target.toFloatArray();
                values[index] += (float) delta;
                NDArray moved = scope.create(values, target.getShape());
                moved.setRequiresGradient(true);
                pairs.put(module, ab == 0 ? new LoraAdapter.Pair(moved, p.b()) : new LoraAdapter.Pair(p.a(), moved));
            }
            Decoder decoder = new Decoder(ckpt.config(), new LoraAdapter(pairs, lora.settings()).applyTo(weights)).withBlockSizes(blocks[0], blocks[1]);
            Engine.getEngine("PyTorch").setRandomSeed(1234);
            Trainer.Accumulated a = new Trainer(decoder, null, scope, Trainer.Settings.of(tok.padId()).withRecompute(recompute))
                    .accumulateGradients(List.of(batch), scope);
            if (grads != null) lora.pairs().forEach((name, pair) -> grads.put(name, new float[][] {pair.a().getGradient().toFloatArray(), pair.b().getGradient().toFloatArray()}));
            lora.parameters().forEach(p -> JniUtils.zeroGrad((PtNDArray) p));
            return a.nllSum() / a.targets();
        }
    }

    /** Mean token loss (no dropout) with one LoRA entry moved by {@code delta}. */
    private static double lossWith(HfCheckpoint ckpt, DecoderWeights weights, LoraAdapter lora, String module, int ab, int index, double delta,
            List<EncodedExample> batch, TokenizerFiles tok, NDManager manager) {
        try (NDManager scope = manager.newSubManager()) {
            var pairs = new LinkedHashMap<String, LoraAdapter.Pair>(lora.pairs());
            LoraAdapter.Pair p = pairs.get(module);
            NDArray target = ab == 0 ? p.a() : p.b();
            float[] values = target.toFloatArray();
            values[index] += (float) delta;
            NDArray moved = scope.create(values, target.getShape());
            pairs.put(module, ab == 0 ? new LoraAdapter.Pair(moved, p.b()) : new LoraAdapter.Pair(p.a(), moved));
            Decoder decoder = new Decoder(ckpt.config(), new LoraAdapter(pairs, lora.settings()).applyTo(weights));
            return new Trainer(decoder, null, scope, Trainer.Settings.of(tok.padId())).evaluate(batch, batch.size()).loss();
        }
    }

    /** Sample Q&A pairs [from, to) of the tiny model's data, encoded with its chat template. */
    /**
     * Packing must change nothing but speed: a packed row's logits at every real position equal those of its examples
     * run alone, and the step's loss and gradients equal the unpacked step's (with and without layer recomputation).
     * The same row run as one long sequence (packing without the mask, Unsloth #1207) must differ, or this test proves nothing.
     */
    @Test
    void packedRowsComputeWhatTheirExamplesComputeAlone() {
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir());
             HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir());
             NDManager manager = NDManager.newBaseManager("PyTorch")) {
            List<EncodedExample> examples = samples(tok, 256, 0, 10);
            List<EncodedExample> rows = dev.loraworkbench.datasets.Packing.pack(examples, 256);
            assertTrue(rows.size() < examples.size() && rows.stream().anyMatch(r -> r.segmentLengths().length >= 3), "rows hold several examples");
            assertEquals(examples.stream().mapToInt(EncodedExample::trainedTokens).sum(), rows.stream().mapToInt(EncodedExample::trainedTokens).sum());

            var settings = new LoraAdapter.LoraSettings(4, 8, 0, Projection.NAMES, false);
            LoraAdapter lora = randomAdapter(ckpt, settings, manager);
            Decoder decoder = new Decoder(ckpt.config(), lora.applyTo(DecoderWeights.load(ckpt, manager)));

            // logits, position by position
            try (NDManager scope = manager.newSubManager()) {
                var batch = dev.loraworkbench.trainer.eval.Batch.of(rows, tok.padId());
                NDArray ids = dev.loraworkbench.trainer.tensor.Tensors.of(scope, batch.ids(), new ai.djl.ndarray.types.Shape(batch.rows(), batch.seqLen()));
                float[] packed = decoder.logits(ids, decoder.context(ids, batch.segments()), false).toFloatArray();
                float[] unmasked = decoder.logits(ids, batch.lengths(), false).toFloatArray();
                int vocab = ckpt.config().vocabSize();
                double maxDiff = 0, maxAbs = 0, unmaskedDiff = 0;
                for (int r = 0; r < rows.size(); r++) {
                    int start = 0;
                    for (int length : rows.get(r).segmentLengths()) {
                        long[] alone = new long[length];
                        for (int t = 0; t < length; t++) alone[t] = batch.ids()[r * batch.seqLen() + start + t];
                        float[] reference = decoder.logits(dev.loraworkbench.trainer.tensor.Tensors.of(scope, alone, new ai.djl.ndarray.types.Shape(1, length)),
                                new int[] {length}, false).toFloatArray();
                        for (int t = 0; t < length; t++) {
                            for (int v = 0; v < vocab; v++) {
                                float want = reference[t * vocab + v];
                                int at = (r * batch.seqLen() + start + t) * vocab + v;
                                maxAbs = Math.max(maxAbs, Math.abs(want));
                                maxDiff = Math.max(maxDiff, Math.abs(packed[at] - want));
                                unmaskedDiff = Math.max(unmaskedDiff, Math.abs(unmasked[at] - want));
                            }
                        }
                        start += length;
                    }
                }
                assertTrue(maxDiff <= 1e-5 * maxAbs + 1e-6, "packed vs alone: max logit difference " + maxDiff + " (max logit " + maxAbs + ")");
                assertTrue(unmaskedDiff > 1e-2 * maxAbs, "without the mask the rows would differ: " + unmaskedDiff);
            }

            // the step: loss and gradients
            for (boolean recompute : new boolean[] {false, true}) {
                Trainer trainer = new Trainer(decoder, new AdamW(lora.parameters(), 0, manager), manager,
                        Trainer.Settings.of(tok.padId()).withRecompute(recompute));
                Trainer.Accumulated plain;
                List<float[]> plainGrads;
                try (NDManager scope = manager.newSubManager()) {
                    plain = trainer.accumulateGradients(List.of(examples.subList(0, 5), examples.subList(5, 10)), scope);
                    plainGrads = gradientsAndZero(lora);
                }
                Trainer.Accumulated packed;
                List<float[]> packedGrads;
                try (NDManager scope = manager.newSubManager()) {
                    packed = trainer.accumulateGradients(List.of(rows), scope);
                    packedGrads = gradientsAndZero(lora);
                }
                assertEquals(plain.targets(), packed.targets());
                assertEquals(plain.inputs(), packed.inputs(), "the same real tokens");
                assertEquals(1.0, packed.nllSum() / plain.nllSum(), 1e-5, "loss, recompute " + recompute);
                double[] absDiff = maxAbsAndDifference(plainGrads, packedGrads);
                assertTrue(absDiff[0] > 1e-4, "gradients are not trivially zero: " + absDiff[0]);
                assertTrue(absDiff[1] <= 1e-4 * absDiff[0], "recompute " + recompute + ": max gradient difference " + absDiff[1] + " vs " + absDiff[0]);
            }
        }
    }

    private static List<EncodedExample> samples(TokenizerFiles tok, int maxSeqLen, int from, int to) {
        var encoder = new ExampleEncoder(tok, maxSeqLen, TruncationPolicy.TRUNCATE);
        return DatasetReader.read(TinyModelFixture.sampleData(), DatasetFormat.QA, null, null).subList(from, to)
                .stream().map(e -> encoder.encode(e).orElseThrow()).toList();
    }

    /** {largest |reference gradient|, largest |reference − other|} over all parameters. */
    private static double[] maxAbsAndDifference(List<float[]> reference, List<float[]> other) {
        double maxAbs = 0, maxDiff = 0;
        for (int i = 0; i < reference.size(); i++) {
            for (int j = 0; j < reference.get(i).length; j++) {
                maxAbs = Math.max(maxAbs, Math.abs(reference.get(i)[j]));
                maxDiff = Math.max(maxDiff, Math.abs(reference.get(i)[j] - other.get(i)[j]));
            }
        }
        return new double[] {maxAbs, maxDiff};
    }

    /** Non-zero B so that A gets gradients too. */
    private static LoraAdapter randomAdapter(HfCheckpoint ckpt, LoraAdapter.LoraSettings s, NDManager m) {
        Random rnd = new Random(3);
        var pairs = new LinkedHashMap<String, LoraAdapter.Pair>();
        LoraAdapter init = LoraAdapter.init(ckpt.config(), s, m, 1);
        init.pairs().forEach((module, p) -> {
            float[] b = new float[(int) p.b().size()];
            for (int i = 0; i < b.length; i++) b[i] = (float) rnd.nextGaussian() * 0.05f;
            pairs.put(module, new LoraAdapter.Pair(p.a(), m.create(b, p.b().getShape())));
        });
        LoraAdapter lora = new LoraAdapter(pairs, s);
        lora.parameters().forEach(p -> p.setRequiresGradient(true));
        return lora;
    }

    private static List<float[]> gradientsAndZero(LoraAdapter lora) {
        List<float[]> out = new ArrayList<>();
        for (NDArray p : lora.parameters()) {
            try (NDArray g = p.getGradient()) {
                out.add(g.toFloatArray());
            }
            JniUtils.zeroGrad((PtNDArray) p);
        }
        return out;
    }

}
