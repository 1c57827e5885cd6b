package dev.loraworkbench.trainer.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.io.DType;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.loader.ModelLoader;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.tensor.Tensors;
import dev.loraworkbench.trainer.testing.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The merged model alone gives the logits of base + adapter (transformers + PEFT goldens). */
class MergedExportTest {
    @TempDir Path dir;

    private static float maxRelativeError(float[] got, float[] expected) {
        float min = Float.MAX_VALUE, max = -Float.MAX_VALUE, worst = 0;
        for (int i = 0; i < expected.length; i++) {
            min = Math.min(min, expected[i]);
            max = Math.max(max, expected[i]);
            worst = Math.max(worst, Math.abs(got[i] - expected[i]));
        }
        return worst / (max - min);
    }

    private static float[] logits(Path model, long[] ids) {
        try (NDManager m = NDManager.newBaseManager("PyTorch"); HfCheckpoint c = HfCheckpoint.open(model)) {
            Decoder d = new Decoder(c.config(), DecoderWeights.load(c, m));
            return d.logits(Tensors.of(m, ids, new Shape(1, ids.length)), new int[] {ids.length}, false).toFloatArray();
        }
    }

    @Test
    void mergedLogitsEqualBasePlusAdapter() throws Exception {
        Path fixture = Fixtures.golden("qwen2-golden");
        long[] ids = {3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26, 43, 38, 32, 79, 50, 28};
        float[] expected;
        try (SafetensorsFile f = SafetensorsFile.open(fixture.resolve("expected.safetensors"))) {
            expected = f.floats("logits_adapter");
        }
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        var fp32 = MergedExport.export(fixture.resolve("model"), fixture.resolve("adapter"), dir.resolve("fp32"), DType.F32, 100_000, quiet);
        assertEquals(14, fp32.mergedModules());
        assertTrue(fp32.shards() > 1, "small shard size -> several shards");
        assertTrue(Files.isRegularFile(dir.resolve("fp32/model.safetensors.index.json")));
        assertTrue(Files.isRegularFile(dir.resolve("fp32/tokenizer.json")));
        assertTrue(Files.readString(dir.resolve("fp32/config.json")).contains("\"torch_dtype\" : \"float32\""));
        float error = maxRelativeError(logits(dir.resolve("fp32"), ids), expected);
        assertTrue(error <= 1e-4, "fp32 merge: max error " + error + " of the logit range");

        MergedExport.export(fixture.resolve("model"), fixture.resolve("adapter"), dir.resolve("bf16"), DType.BF16, 5_000_000_000L, quiet);
        assertTrue(Files.isRegularFile(dir.resolve("bf16/model.safetensors")), "one shard needs no index");
        float bf16Error = maxRelativeError(logits(dir.resolve("bf16"), ids), expected);
        assertTrue(bf16Error > 0 && bf16Error < 0.02, "bf16 merge: max error " + bf16Error + " of the logit range");
    }

    /** An adapter trained on an NF4 base, merged into the dequantized base, computes what the QLoRA model did; merged as stored it does not. */
    @Test
    void aQloraAdapterMergedIntoTheDequantizedBaseReproducesTheTrainedModel() throws Exception {
        Path fixture = Fixtures.golden("qwen2-golden");
        long[] ids = {3, 14, 15, 92, 65, 35, 89, 79};
        var nf4 = new Quantization(dev.loraworkbench.trainer.quant.Codebook.NF4, 64, true);
        float[] qlora;
        try (NDManager m = NDManager.newBaseManager("PyTorch"); HfCheckpoint c = HfCheckpoint.open(fixture.resolve("model"))) {
            var adapter = dev.loraworkbench.trainer.lora.PeftFormat.read(fixture.resolve("adapter"), c.config(), m);
            Decoder d = new Decoder(c.config(), adapter.applyTo(ModelLoader.weights(c, m, nf4)));
            qlora = d.logits(Tensors.of(m, ids, new Shape(1, ids.length)), new int[] {ids.length}, false).toFloatArray();
        }
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        MergedExport.export(fixture.resolve("model"), fixture.resolve("adapter"), dir.resolve("deq"), DType.F32, 5_000_000_000L, nf4, quiet);
        MergedExport.export(fixture.resolve("model"), fixture.resolve("adapter"), dir.resolve("orig"), DType.F32, 5_000_000_000L, null, quiet);
        float dequantized = maxRelativeError(logits(dir.resolve("deq"), ids), qlora);
        float original = maxRelativeError(logits(dir.resolve("orig"), ids), qlora);
        assertTrue(dequantized <= 1e-4, "dequantized merge vs the QLoRA model: " + dequantized);
        assertTrue(original > 10 * Math.max(dequantized, 1e-6f), "the stored base differs from what training saw: " + original + " vs " + dequantized);
    }
}
