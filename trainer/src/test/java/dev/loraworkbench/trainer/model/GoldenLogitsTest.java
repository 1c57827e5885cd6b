package dev.loraworkbench.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.loader.ModelLoader;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.testing.Fixtures;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Logits against transformers + PEFT goldens (computed in float64 by an independent implementation). */
class GoldenLogitsTest {

    @ParameterizedTest
    @CsvSource({"qwen2-golden,false,false", "qwen2-golden,true,false", "llama-golden,false,false", "llama-golden,true,false",
            "qwen2-golden,false,true", "qwen2-golden,true,true"})
    void logitsMatchTransformers(String fixture, boolean withAdapter, boolean nf4) throws Exception {
        Path dir = Fixtures.golden(fixture);
        var json = new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
        long[] ids = new long[json.get("ids").size()];
        for (int i = 0; i < ids.length; i++) ids[i] = json.get("ids").get(i).asLong();

        float[] expected;
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("expected.safetensors"))) {
            expected = f.floats((nf4 ? "logits_nf4" : "logits") + (withAdapter ? "_adapter" : nf4 ? "" : "_base"));
        }
        try (NDManager manager = NDManager.newBaseManager("PyTorch");
             HfCheckpoint ckpt = HfCheckpoint.open(dir.resolve("model"))) {
            DecoderWeights weights = ModelLoader.weights(ckpt, manager, nf4 ? new Quantization(dev.loraworkbench.trainer.quant.Codebook.NF4, 64, false) : null);
            LoraAdapter lora = withAdapter ? PeftFormat.read(dir.resolve("adapter"), ckpt.config(), manager) : null;
            Decoder decoder = new Decoder(ckpt.config(), lora == null ? weights : lora.applyTo(weights));
            NDArray input = manager.create(ids, new Shape(1, ids.length));
            float[] got = decoder.logits(input, new int[] {ids.length}, false).toFloatArray();

            float min = Float.MAX_VALUE, max = -Float.MAX_VALUE, worst = 0;
            for (int i = 0; i < expected.length; i++) {
                min = Math.min(min, expected[i]);
                max = Math.max(max, expected[i]);
                worst = Math.max(worst, Math.abs(got[i] - expected[i]));
            }
            float tolerance = 1e-4f * (max - min);
            assertTrue(worst <= tolerance, fixture + (nf4 ? " nf4" : "") + (withAdapter ? "+adapter" : "") + ": max |diff| " + worst + " > " + tolerance);
            assertArrayEquals(new long[] {ids.length, ckpt.config().vocabSize()}, new long[] {ids.length, got.length / ids.length});
        }
    }
}
