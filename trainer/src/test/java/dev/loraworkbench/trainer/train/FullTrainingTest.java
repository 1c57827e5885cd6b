package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.ExampleEncoder;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.datasets.TruncationPolicy;
import dev.loraworkbench.trainer.events.TfEvents;
import dev.loraworkbench.trainer.loader.AdapterSource;
import dev.loraworkbench.trainer.loader.LoadedModel;
import dev.loraworkbench.trainer.loader.ModelLoader;
import dev.loraworkbench.trainer.loader.ModelSpec;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.recipe.RecipeException;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.tensor.Tensors;
import dev.loraworkbench.trainer.testing.ChildTraining;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** training.method: full trains every weight, resumes exactly after kill -9, and leaves a model that loads back as a base. */
class FullTrainingTest {
    @TempDir Path dir;

    private Path recipe(String name, String model, String method) throws Exception {
        String yaml = """
                model: {path: %s}
                dataset: {path: %s, max_seq_len: 160, eval_fraction: 0.1}
                training: {method: %s, max_steps: 8, micro_batch_size: 4, lr: 1.0e-3, warmup_steps: 1, save_every: 4, eval_every: 4,
                           weight_decay: 0.01, packing: true}
                eval: {metrics: [loss]}
                output: {runs_dir: runs, name: %s}
                """.formatted(model, TinyModelFixture.sampleData(), method, name);
        return Files.writeString(dir.resolve(name + ".yaml"), yaml);
    }

    private static PrintStream quiet() { return new PrintStream(new ByteArrayOutputStream()); }

    @Test
    void killMinus9ThenResumeEqualsStraightAndTheRunLeavesAModelThatTrainsALoraOnTop() throws Exception {
        TrainingRun.execute(RecipeLoader.load(recipe("straight", TinyModelFixture.dir().toString(), "full"), List.of()), new AtomicBoolean(), quiet());
        Path straight = dir.resolve("runs/straight");
        Path model = straight.resolve("model");
        for (String file : List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json")) {
            assertTrue(Files.isRegularFile(model.resolve(file)), file);
        }
        assertTrue(Files.isRegularFile(straight.resolve("checkpoints/step-4/model.safetensors")), "a checkpoint holds the whole model");
        assertFalse(Files.exists(straight.resolve("adapter_model.safetensors")), "no adapter: the model itself was trained");

        Path recipe = recipe("killed", TinyModelFixture.dir().toString(), "full");
        Process child = ChildTraining.start(recipe, dir.resolve("child.log"));
        ChildTraining.killOnceWritten(child, dir.resolve("runs/killed/checkpoints/step-4/trainer_state.json"), dir.resolve("child.log"));
        TrainingRun.resume(RecipeLoader.load(recipe, List.of()), dir.resolve("runs/killed"), false, new AtomicBoolean(), quiet());
        var expected = TfEvents.scalars(straight);
        var resumed = TfEvents.scalars(dir.resolve("runs/killed"));
        for (String tag : List.of("train/loss", "train/grad_norm", "eval/loss")) assertEquals(expected.get(tag), resumed.get(tag), tag);
        assertArrayEquals(Files.readAllBytes(model.resolve("model.safetensors")), Files.readAllBytes(dir.resolve("runs/killed/model/model.safetensors")),
                "the resumed run's model is bitwise the straight run's");
        assertTrue(expected.get("eval/loss").get(2).value() < expected.get("eval/loss").get(0).value(), "it learned: " + expected.get("eval/loss"));

        // eval of a full run: its model against the model it started from, on the run's eval split
        var out = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        int code;
        try {
            System.setOut(new PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8));
            code = dev.loraworkbench.trainer.cli.WorkbenchCli.run("eval", straight.toString(), "--samples", "3", "--max-new-tokens", "4", "--json");
        } finally {
            System.setOut(oldOut);
        }
        assertEquals(0, code, out.toString());
        var metrics = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.toString());
        assertEquals(3, metrics.path("questions").asInt(), metrics.toString());
        double baseLoss = metrics.path("metrics").path("loss").path("base").asDouble(Double.NaN);
        double tunedLoss = metrics.path("metrics").path("loss").path("adapter").asDouble(Double.NaN);
        assertTrue(tunedLoss < baseLoss, "the trained model's eval loss is below its starting point's: " + metrics);

        // the trained model is a base like any other: a LoRA recipe trains on it
        TrainingRun.Outcome lora = TrainingRun.execute(RecipeLoader.load(recipe("lora-on-top", model.toString(), "lora"), List.of()),
                new AtomicBoolean(), quiet());
        assertEquals(8, lora.steps());
        assertTrue(Files.isRegularFile(dir.resolve("runs/lora-on-top/adapter_model.safetensors")));
    }

    /** What the trainer holds in memory after a step is what loads back from the written model: the same logits, bit for bit. */
    @Test
    void theWrittenModelLoadsBackWithTheTrainedWeights() throws Exception {
        Path written = dir.resolve("written");
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir());
             LoadedModel model = ModelLoader.load(new ModelSpec(TinyModelFixture.dir(), null, Recipe.ComputeDtype.FP32, "cpu",
                     new AdapterSource.FullModel(), 0), null)) {
            var trained = new TrainedWeights.Full(model.decoder().weights(), TinyModelFixture.dir());
            assertEquals(model.decoder().weights().parameterCount(), trained.parameters().stream().mapToLong(a -> a.size()).sum(),
                    "every weight is trained (tied lm_head once)");
            var encoder = new ExampleEncoder(tok, 128, TruncationPolicy.TRUNCATE);
            List<EncodedExample> batch = DatasetReader.read(TinyModelFixture.sampleData(), DatasetFormat.QA, null, null).subList(0, 4).stream()
                    .map(e -> encoder.encode(e).orElseThrow()).toList();
            float[] before = logits(model, batch.get(0).ids());
            Trainer trainer = new Trainer(model.decoder(), new AdamW(trained.parameters(), 0.01, model.manager()), model.manager(),
                    Trainer.Settings.of(tok.padId()));
            trainer.step(List.of(batch), 1e-3);
            float[] after = logits(model, batch.get(0).ids());
            assertFalse(java.util.Arrays.equals(before, after), "the step changed the model");
            trained.write(written);
            try (LoadedModel reloaded = ModelLoader.load(new ModelSpec(written, null, Recipe.ComputeDtype.FP32, "cpu", new AdapterSource.None(), 0), null)) {
                assertArrayEquals(after, logits(reloaded, batch.get(0).ids()));
            }
        }
    }

    private static float[] logits(LoadedModel model, int[] ids) {
        try (NDManager scope = model.manager().newSubManager()) {
            long[] l = java.util.Arrays.stream(ids).asLongStream().toArray();
            return model.decoder().logits(Tensors.of(scope, l, new Shape(1, l.length)), new int[] {l.length}, false).toFloatArray();
        }
    }

    @Test
    void aQuantizedBaseCannotBeTrainedInFullAndNormsDoNotDecay() throws Exception {
        String yaml = Files.readString(recipe("q", "m", "full")) + "quantization: {type: nf4}\n";
        var problems = assertThrows(RecipeException.class, () -> RecipeLoader.parse(yaml, dir.resolve("q.yaml"), List.of())).problems();
        assertTrue(problems.get(0).contains("training.method: full trains every weight in fp32; a nf4 base is frozen 4-bit storage"), problems.toString());
        assertTrue(AdamW.decays("model.layers.0.mlp.up_proj.weight"));
        assertTrue(AdamW.decays("model.layers.0.self_attn.q_proj.lora_A.weight"));
        assertFalse(AdamW.decays("model.layers.0.self_attn.q_proj.bias"));
        assertFalse(AdamW.decays("model.layers.0.input_layernorm.weight"));
        assertFalse(AdamW.decays("model.norm.weight"));
        LoadedRecipe ok = RecipeLoader.parse(Files.readString(recipe("ok", "m", "full")), dir.resolve("ok.yaml"), List.of());
        assertEquals(Recipe.Method.FULL, ok.recipe().training().method());
    }
}
