package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import dev.loraworkbench.trainer.events.TfEvents;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** End to end on the tiny model and the shipped sample data: loss falls, events and adapter are written, reruns repeat. */
class TrainingRunTest {
    @TempDir Path dir;

    private LoadedRecipe recipe(String name, int steps, String... extra) throws Exception {
        String yaml = """
                model: {path: %s}
                lora: {r: 8, alpha: 16, dropout: 0.05}
                dataset: {path: %s, max_seq_len: 192, eval_fraction: 0.1}
                training: {max_steps: %d, micro_batch_size: 8, lr: 5.0e-3, warmup_steps: 2, eval_every: 10, save_every: 10}
                eval: {max_new_tokens: 12}
                output: {runs_dir: runs, name: %s}
                """.formatted(TinyModelFixture.dir(), TinyModelFixture.sampleData(), steps, name);
        Path file = Files.writeString(dir.resolve(name + ".yaml"), yaml);
        return RecipeLoader.load(file, List.of(extra));
    }

    private static TrainingRun.Outcome run(LoadedRecipe r) throws Exception {
        return TrainingRun.execute(r, new AtomicBoolean(), new PrintStream(new ByteArrayOutputStream()));
    }

    @Test
    void trainsWritesEventsCheckpointsAndAPeftAdapter() throws Exception {
        TrainingRun.Outcome out = run(recipe("full", 30));
        assertEquals(30, out.steps());
        Path runDir = dir.resolve("runs/full");
        assertEquals(runDir, out.runDir());

        Map<String, List<TfEvents.Point>> scalars = TfEvents.scalars(runDir);
        assertEquals(Set.of("train/loss", "train/grad_norm", "train/learning_rate", "train/mean_token_accuracy", "train/epoch",
                "train/num_tokens", "eval/loss", "eval/mean_token_accuracy", "eval/perplexity", "eval/exact_match", "eval/token_f1",
                "eval/rouge_l"), scalars.keySet());
        List<TfEvents.Point> loss = scalars.get("train/loss");
        assertEquals(30, loss.size());
        double firstFive = loss.subList(0, 5).stream().mapToDouble(TfEvents.Point::value).average().orElseThrow();
        double lastFive = loss.subList(25, 30).stream().mapToDouble(TfEvents.Point::value).average().orElseThrow();
        assertTrue(lastFive < firstFive - 0.5, "loss should fall clearly: " + firstFive + " -> " + lastFive);
        List<TfEvents.Point> eval = scalars.get("eval/loss");
        assertEquals(List.of(0L, 10L, 20L, 30L), eval.stream().map(TfEvents.Point::step).toList(), "step 0 is the base model's baseline");
        assertTrue(eval.get(3).value() < eval.get(1).value() && eval.get(1).value() < eval.get(0).value(), "eval loss falls: " + eval);
        for (String metric : List.of("eval/exact_match", "eval/token_f1", "eval/rouge_l", "eval/perplexity")) {
            assertEquals(List.of(0L, 10L, 20L, 30L), scalars.get(metric).stream().map(TfEvents.Point::step).toList(), metric);
        }
        assertEquals(Math.exp(eval.get(2).value()), scalars.get("eval/perplexity").get(2).value(), 1e-3 * Math.exp(eval.get(2).value()));
        assertEquals(0.0, scalars.get("train/learning_rate").get(0).value(), 0.0, "warmup starts at 0 as in transformers");
        assertTrue(scalars.get("train/num_tokens").get(29).value() > scalars.get("train/num_tokens").get(0).value());

        assertTrue(Files.isDirectory(runDir.resolve("checkpoints/step-10")));
        assertTrue(Files.isDirectory(runDir.resolve("checkpoints/step-20")));
        assertTrue(Files.readString(runDir.resolve("recipe.yaml")).contains("max_steps: 30"));
        try (HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir()); NDManager m = NDManager.newBaseManager("PyTorch")) {
            LoraAdapter adapter = PeftFormat.read(runDir, ckpt.config(), m);
            assertEquals(4 * 7, adapter.pairs().size());
            assertEquals(2f, adapter.scale());
            float[] b = adapter.get("model.layers.0.self_attn.q_proj").b().toFloatArray();
            assertTrue(maxAbs(b) > 0, "B was trained away from zero");
        }
        var plugins = TfEvents.plugins(runDir);
        assertTrue(plugins.get("recipe").contains("max_steps: 30"), "resolved recipe as a text summary");
        assertTrue(plugins.get("eval/samples").startsWith("| question | reference | generated |"), "answers beside the curves: " + plugins.get("eval/samples"));
        assertEquals(2 + 5, plugins.get("eval/samples").split("\n").length, "header, rule and five answers");
        assertEquals(8.0, TfEvents.hparams(runDir).get("lora.r"));
        assertEquals(5.0e-3, TfEvents.hparams(runDir).get("training.lr"));
        String config = Files.readString(runDir.resolve("adapter_config.json"));
        assertTrue(config.contains("\"peft_type\" : \"LORA\"") && config.contains("\"lora_alpha\" : 16.0"), config);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"nf4", "fp4"})
    void qloraOnA4BitBaseTrains(String type) throws Exception {
        TrainingRun.Outcome out = run(recipe("qlora-" + type, 16, "quantization.type=" + type, "quantization.double_quant=true"));
        List<Double> loss = TfEvents.scalars(dir.resolve("runs/qlora-" + type)).get("train/loss").stream().map(TfEvents.Point::value).toList();
        double first = loss.subList(0, 4).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        double last = loss.subList(12, 16).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        assertTrue(last < first - 0.3, first + " -> " + last);
        assertTrue(Files.readString(out.runDir().resolve("recipe.yaml")).contains("type: " + type));
    }

    /**
     * Early stopping on a scripted metric: the tiny model never answers exactly, so exact_match sets its best at the first
     * evaluation (step 2) and then stays 0: with patience 2 the run stops at step 6 and leaves step 2's adapter.
     */
    @Test
    void earlyStoppingKeepsTheBestAdapter() throws Exception {
        TrainingRun.Outcome out = run(recipe("early", 20, "training.metric_for_best=eval/exact_match", "training.early_stopping_patience=2",
                "eval.every=2", "eval.max_new_tokens=4", "eval.samples=4", "training.save_every=0"));
        assertTrue(out.stoppedEarly());
        assertFalse(out.interrupted());
        assertEquals(6, out.steps());
        var status = dev.loraworkbench.trainer.runs.RunStatus.read(out.runDir()).orElseThrow();
        assertEquals(dev.loraworkbench.trainer.runs.RunStatus.Status.FINISHED, status.status());
        assertTrue(status.message().startsWith("early stopping at step 6: eval/exact_match did not improve for 2 evaluations"), status.message());
        assertEquals(new dev.loraworkbench.trainer.runs.BestSoFar("eval/exact_match", 0.0, 2, 2), status.best());
        assertEquals(List.of(0L, 2L, 4L, 6L), TfEvents.scalars(out.runDir()).get("eval/exact_match").stream().map(TfEvents.Point::step).toList());
        // the run's final adapter is the best (step 2), not the last step's (step 6, in its checkpoint)
        byte[] finalAdapter = Files.readAllBytes(out.runDir().resolve(PeftFormat.WEIGHTS));
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(out.runDir().resolve("best").resolve(PeftFormat.WEIGHTS)), finalAdapter));
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(out.runDir().resolve("checkpoints/step-6").resolve(PeftFormat.WEIGHTS)), finalAdapter));
        TrainingRun.Outcome again = TrainingRun.resume(recipe("early", 20, "training.metric_for_best=eval/exact_match",
                "training.early_stopping_patience=2", "eval.every=2", "eval.max_new_tokens=4", "eval.samples=4", "training.save_every=0"),
                out.runDir(), false, new AtomicBoolean(), new PrintStream(new ByteArrayOutputStream()));
        assertEquals(6, again.steps(), "an early-stopped run has nothing left to resume");

        TrainingRun.Outcome last = run(recipe("last", 6, "training.metric_for_best=eval/exact_match", "eval.every=2", "eval.max_new_tokens=4",
                "eval.samples=4", "training.final_adapter=last"));
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(last.runDir().resolve("checkpoints/step-6").resolve(PeftFormat.WEIGHTS)),
                Files.readAllBytes(last.runDir().resolve(PeftFormat.WEIGHTS))), "final_adapter: last keeps the last step's");
    }

    @Test
    void sameSeedSameLosses() throws Exception {
        run(recipe("a", 4));
        run(recipe("b", 4));
        List<Double> a = TfEvents.scalars(dir.resolve("runs/a")).get("train/loss").stream().map(TfEvents.Point::value).toList();
        List<Double> b = TfEvents.scalars(dir.resolve("runs/b")).get("train/loss").stream().map(TfEvents.Point::value).toList();
        assertEquals(a, b);
        run(recipe("c", 4, "training.seed=7"));
        assertFalse(a.equals(TfEvents.scalars(dir.resolve("runs/c")).get("train/loss").stream().map(TfEvents.Point::value).toList()));
    }

    @Test
    void stopRequestSavesTheAdapter() throws Exception {
        AtomicBoolean stop = new AtomicBoolean(true); // as if Ctrl-C came during the first step
        TrainingRun.Outcome out = TrainingRun.execute(recipe("stopped", 50), stop, new PrintStream(new ByteArrayOutputStream()));
        assertTrue(out.interrupted());
        assertEquals(1, out.steps(), "the step in progress completes");
        assertTrue(Files.isRegularFile(out.runDir().resolve(PeftFormat.WEIGHTS)));
        assertTrue(Files.isRegularFile(out.runDir().resolve("checkpoints/step-1/trainer_state.json")));
    }

    private static double maxAbs(float[] v) {
        double m = 0;
        for (float x : v) m = Math.max(m, Math.abs(x));
        return m;
    }
}
