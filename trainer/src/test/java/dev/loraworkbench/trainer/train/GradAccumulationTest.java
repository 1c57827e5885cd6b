package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.ExampleEncoder;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.datasets.TruncationPolicy;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Gradient accumulation 4 x micro 1 gives the same gradients and loss as micro 4 x accumulation 1. */
class GradAccumulationTest {

    @Test
    void accumulatedMicroBatchesEqualOneBigBatch() {
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir());
             HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir());
             NDManager manager = NDManager.newBaseManager("PyTorch")) {
            var encoder = new ExampleEncoder(tok, 256, TruncationPolicy.TRUNCATE);
            List<EncodedExample> four = DatasetReader.read(TinyModelFixture.sampleData(), DatasetFormat.QA, null, null).subList(0, 4)
                    .stream().map(e -> encoder.encode(e).orElseThrow()).toList();
            assertTrue(four.stream().mapToInt(e -> e.ids().length).distinct().count() > 1, "lengths differ, so padding is exercised");

            var settings = new LoraAdapter.LoraSettings(4, 8, 0, DecoderWeights.PROJECTIONS, false);
            LoraAdapter lora = randomAdapter(ckpt, settings, manager);
            Decoder decoder = new Decoder(ckpt.config(), DecoderWeights.load(ckpt, manager), lora);
            Trainer trainer = new Trainer(decoder, new AdamW(lora.parameters(), 0, manager), manager, tok.padId(), 1.0, false);

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
            double maxAbs = 0;
            double maxDiff = 0;
            for (int i = 0; i < bigGrads.size(); i++) {
                for (int j = 0; j < bigGrads.get(i).length; j++) {
                    maxAbs = Math.max(maxAbs, Math.abs(bigGrads.get(i)[j]));
                    maxDiff = Math.max(maxDiff, Math.abs(bigGrads.get(i)[j] - accGrads.get(i)[j]));
                }
            }
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
            var encoder = new ExampleEncoder(tok, 256, TruncationPolicy.TRUNCATE);
            List<EncodedExample> batch = DatasetReader.read(TinyModelFixture.sampleData(), DatasetFormat.QA, null, null).subList(4, 8)
                    .stream().map(e -> encoder.encode(e).orElseThrow()).toList();
            var settings = new LoraAdapter.LoraSettings(4, 8, 0, DecoderWeights.PROJECTIONS, false);
            for (var quantization : new DecoderWeights.Quantization[] {null,
                    new DecoderWeights.Quantization(dev.loraworkbench.trainer.quant.Codebook.NF4, 64, true)}) {
                LoraAdapter lora = randomAdapter(ckpt, settings, manager);
                Decoder decoder = new Decoder(ckpt.config(), DecoderWeights.load(ckpt, manager, quantization), lora);
                List<float[]> plain, recomputed;
                Trainer.Accumulated a, b;
                try (NDManager scope = manager.newSubManager()) {
                    a = new Trainer(decoder, new AdamW(lora.parameters(), 0, manager), manager, tok.padId(), 1.0, false)
                            .accumulateGradients(List.of(batch.subList(0, 2), batch.subList(2, 4)), scope);
                    plain = gradientsAndZero(lora);
                }
                try (NDManager scope = manager.newSubManager()) {
                    b = new Trainer(decoder, new AdamW(lora.parameters(), 0, manager), manager, tok.padId(), 1.0, true)
                            .accumulateGradients(List.of(batch.subList(0, 2), batch.subList(2, 4)), scope);
                    recomputed = gradientsAndZero(lora);
                }
                assertEquals(a.nllSum(), b.nllSum(), 1e-6 * Math.abs(a.nllSum()));
                assertEquals(a.correct(), b.correct());
                double maxAbs = 0, maxDiff = 0;
                for (int i = 0; i < plain.size(); i++) {
                    for (int j = 0; j < plain.get(i).length; j++) {
                        maxAbs = Math.max(maxAbs, Math.abs(plain.get(i)[j]));
                        maxDiff = Math.max(maxDiff, Math.abs(plain.get(i)[j] - recomputed.get(i)[j]));
                    }
                }
                assertTrue(maxAbs > 1e-4, "non-trivial gradients");
                assertTrue(maxDiff <= 1e-6 * maxAbs, (quantization == null ? "fp32" : "nf4") + ": max difference " + maxDiff + " of " + maxAbs);
            }
        }
    }

    /**
     * fp16 compute (half-precision projections, fp32 everywhere else) with a loss scale: the scaled gradients,
     * unscaled, are those of fp32 compute within fp16 rounding (plain and nf4 base, plain and recomputed backward).
     */
    @Test
    void fp16ComputeWithLossScalingGivesTheFp32Gradients() {
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir());
             HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir());
             NDManager manager = NDManager.newBaseManager("PyTorch")) {
            var encoder = new ExampleEncoder(tok, 128, TruncationPolicy.TRUNCATE);
            List<EncodedExample> batch = DatasetReader.read(TinyModelFixture.sampleData(), DatasetFormat.QA, null, null).subList(8, 10)
                    .stream().map(e -> encoder.encode(e).orElseThrow()).toList();
            var settings = new LoraAdapter.LoraSettings(4, 8, 0, DecoderWeights.PROJECTIONS, false);
            double lossScale = 1024;
            for (var quantization : new DecoderWeights.Quantization[] {null,
                    new DecoderWeights.Quantization(dev.loraworkbench.trainer.quant.Codebook.NF4, 64, false)}) {
                LoraAdapter lora = randomAdapter(ckpt, settings, manager);
                List<float[]> reference;
                Trainer.Accumulated a;
                try (NDManager scope = manager.newSubManager()) {
                    Decoder fp32 = new Decoder(ckpt.config(), DecoderWeights.load(ckpt, manager, quantization), lora);
                    a = new Trainer(fp32, new AdamW(lora.parameters(), 0, manager), manager, tok.padId(), 1.0, false).accumulateGradients(List.of(batch), scope);
                    reference = gradientsAndZero(lora);
                }
                Decoder half = new Decoder(ckpt.config(), DecoderWeights.load(ckpt, manager, quantization, ai.djl.ndarray.types.DataType.FLOAT16), lora);
                assertEquals(ai.djl.ndarray.types.DataType.FLOAT16, quantization == null ? half.weights().layers().get(0).q().weight().getDataType()
                        : ai.djl.ndarray.types.DataType.FLOAT16, "projection weights are stored in fp16");
                for (boolean recompute : new boolean[] {false, true}) {
                    Trainer.Accumulated b;
                    List<float[]> scaled;
                    try (NDManager scope = manager.newSubManager()) {
                        b = new Trainer(half, new AdamW(lora.parameters(), 0, manager), manager, tok.padId(), 1.0, recompute)
                                .accumulateGradients(List.of(batch), scope, lossScale);
                        scaled = gradientsAndZero(lora);
                    }
                    assertEquals(a.nllSum() / a.targets(), b.nllSum() / b.targets(), 5e-3, "loss in fp16 compute");
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
                    String what = (quantization == null ? "fp16" : "nf4 + fp16") + (recompute ? ", recomputed" : "");
                    assertTrue(dot / Math.sqrt(nr * nh) > 0.9999, what + ": cosine " + dot / Math.sqrt(nr * nh));
                    assertTrue(maxDiff <= 2e-2 * maxAbs, what + ": max difference " + maxDiff + " of " + maxAbs);
                }
            }
        }
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
