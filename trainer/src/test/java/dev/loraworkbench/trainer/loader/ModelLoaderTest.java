package dev.loraworkbench.trainer.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.LoraLinear;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.FrozenLinear;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.quant.Codebook;
import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.quant.QuantizedLinear;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.tensor.Tensors;
import dev.loraworkbench.trainer.testing.Fixtures;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelLoaderTest {
    private static final Path GOLDEN = Fixtures.golden("qwen2-golden");

    private static ModelSpec spec(Quantization q, AdapterSource adapter, int longest) {
        return new ModelSpec(GOLDEN.resolve("model"), q, Recipe.ComputeDtype.FP32, "cpu", adapter, longest);
    }

    @Test
    void aSavedAdapterGivesTransformersAndPeftLogits() throws Exception {
        var json = new ObjectMapper().readTree(GOLDEN.resolve("expected.json").toFile());
        long[] ids = new long[json.get("ids").size()];
        for (int i = 0; i < ids.length; i++) ids[i] = json.get("ids").get(i).asLong();
        float[] expected;
        try (SafetensorsFile f = SafetensorsFile.open(GOLDEN.resolve("expected.safetensors"))) {
            expected = f.floats("logits_adapter");
        }
        try (LoadedModel m = ModelLoader.load(spec(null, new AdapterSource.Saved(GOLDEN.resolve("adapter")), ids.length), null)) {
            float[] got = m.decoder().logits(Tensors.of(m.manager(), ids, new Shape(1, ids.length)), new int[] {ids.length}, false).toFloatArray();
            float min = Float.MAX_VALUE, max = -Float.MAX_VALUE, worst = 0;
            for (int i = 0; i < expected.length; i++) {
                min = Math.min(min, expected[i]);
                max = Math.max(max, expected[i]);
                worst = Math.max(worst, Math.abs(got[i] - expected[i]));
            }
            assertTrue(worst <= 1e-4f * (max - min), "max |diff| " + worst);
        }
    }

    @Test
    void projectionsAreBoundOnceAsTheSpecSays() {
        var settings = new LoraAdapter.LoraSettings(4, 8, 0.1, List.of("q_proj", "down_proj"), false);
        var nf4 = new Quantization(Codebook.NF4, 64, true);
        try (LoadedModel m = ModelLoader.load(spec(nf4, new AdapterSource.Trainable(settings, 7, null), 0), null)) {
            DecoderWeights.Layer layer = m.decoder().weights().layers().get(1);
            for (Projection p : Projection.values()) {
                var bound = layer.projection(p);
                boolean adapted = p == Projection.Q || p == Projection.DOWN;
                assertEquals(adapted, bound instanceof LoraLinear, p.hfName());
                assertInstanceOf(QuantizedLinear.class, adapted ? ((LoraLinear) bound).base() : bound, p.hfName());
            }
            assertEquals(2 * 2 * 2, m.adapter().parameters().size(), "A and B of two projections in two layers");
            m.adapter().parameters().forEach(a -> assertTrue(a.hasGradient(), a.getName() + " is trainable"));
        }
        try (LoadedModel m = ModelLoader.load(spec(null, new AdapterSource.None(), 0), null)) {
            assertInstanceOf(FrozenLinear.class, m.decoder().weights().layers().get(0).q());
            assertSame(null, m.adapter());
        }
    }

    @Test
    void aSequenceLongerThanTheWindowFailsClearly(@TempDir Path dir) throws Exception {
        Path model = Files.createDirectories(dir.resolve("model"));
        var config = (com.fasterxml.jackson.databind.node.ObjectNode) new ObjectMapper().readTree(GOLDEN.resolve("model/config.json").toFile());
        Files.writeString(model.resolve("config.json"), config.put("use_sliding_window", true).put("sliding_window", 8).toString());
        Files.copy(GOLDEN.resolve("model/model.safetensors"), model.resolve("model.safetensors"));
        var spec = new ModelSpec(model, null, Recipe.ComputeDtype.FP32, "cpu", new AdapterSource.None(), 9);
        var e = assertThrows(CheckpointFormatException.class, () -> ModelLoader.load(spec, null));
        assertTrue(e.getMessage().contains("longer than the model's sliding_window 8"), e.getMessage());
    }

    /** A tokenizer with ids past vocab_size crashed generate (index out of range) and failed training with NaN. */
    @Test
    void aTokenizerLargerThanTheVocabularyIsRefusedBeforeLoading(@TempDir Path dir) throws Exception {
        Path model = Files.createDirectories(dir.resolve("model"));
        for (String f : new String[] {"model.safetensors", "tokenizer.json", "tokenizer_config.json"}) Files.copy(GOLDEN.resolve("model").resolve(f), model.resolve(f));
        int largest = TokenizerFiles.largestId(model.resolve("tokenizer.json"));
        assertTrue(largest > 50, "the golden tokenizer's ids reach " + largest);
        var config = (com.fasterxml.jackson.databind.node.ObjectNode) new ObjectMapper().readTree(GOLDEN.resolve("model/config.json").toFile());
        Files.writeString(model.resolve("config.json"), config.put("vocab_size", 50).toString());
        var spec = new ModelSpec(model, null, Recipe.ComputeDtype.FP32, "cpu", new AdapterSource.None(), 0);
        var e = assertThrows(CheckpointFormatException.class, () -> ModelLoader.load(spec, null));
        assertTrue(e.getMessage().contains("tokenizer.json has token ids up to " + largest + " but config.json's vocab_size is 50"), e.getMessage());
        try (LoadedModel ok = ModelLoader.load(spec(null, new AdapterSource.None(), 0), null)) {
            assertTrue(TokenizerFiles.largestId(GOLDEN.resolve("model/tokenizer.json")) < ok.decoder().config().vocabSize());
        }
    }

    @Test
    void generationStopsAtGenerationConfigsEosAndTheTokenizers(@TempDir Path dir) throws Exception {
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir())) {
            int eos = tok.tokenId(tok.eosToken());
            Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [7, 9]}");
            assertEquals(Set.of(7, 9, eos), new LoadedModel(dir, null, null, null, null).stopIds(tok));
            Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": 5}");
            assertEquals(Set.of(5, eos), new LoadedModel(dir, null, null, null, null).stopIds(tok));
            Files.writeString(dir.resolve("generation_config.json"), "{not json");
            assertThrows(CheckpointFormatException.class, () -> new LoadedModel(dir, null, null, null, null).stopIds(tok));
        }
    }
}
