package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.events.TfEvents;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeException;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.testing.ChildTraining;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Exact resume: a straight run and an interrupted-then-resumed run log bitwise-identical losses at every step. */
class ResumeTest {
    static final int STEPS = 12;
    @TempDir Path dir;

    private Path recipeFile(String name, String extra) throws Exception {
        String yaml = """
                model: {path: %s}
                lora: {r: 4, alpha: 8, dropout: 0.1}
                dataset: {path: %s, max_seq_len: 160, eval_fraction: 0.1}
                training: {max_steps: %d, micro_batch_size: 4, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, save_every: 4, eval_every: 6,
                           metric_for_best: eval/exact_match, early_stopping_patience: 5%s}
                eval: {samples: 6, max_new_tokens: 8}
                # exact_match stays 0 on the tiny model: best at the first evaluation, then a patience count that must resume exactly
                output: {runs_dir: runs, name: %s}
                """.formatted(TinyModelFixture.dir(), TinyModelFixture.sampleData(), STEPS, extra, name);
        return Files.writeString(dir.resolve(name + ".yaml"), yaml);
    }

    /** The best evaluation, its patience count and the best adapter are those of the straight run. */
    private void assertSameBest(String name) throws Exception {
        var straight = dev.loraworkbench.trainer.runs.RunStatus.read(dir.resolve("runs/straight")).orElseThrow().best();
        assertEquals(new dev.loraworkbench.trainer.runs.BestSoFar("eval/exact_match", 0.0, 6, 1), straight, "best at 6, then 12 did not beat it");
        assertEquals(straight, dev.loraworkbench.trainer.runs.RunStatus.read(dir.resolve("runs/" + name)).orElseThrow().best());
        assertEquals(straight, dev.loraworkbench.trainer.runs.TrainerState.read(dir.resolve("runs/" + name + "/checkpoints/step-12")).best());
        for (String file : List.of("best/adapter_model.safetensors", "adapter_model.safetensors")) {
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(dir.resolve("runs/straight/" + file)), Files.readAllBytes(dir.resolve("runs/" + name + "/" + file))), file);
        }
    }

    private static PrintStream quiet() { return new PrintStream(new ByteArrayOutputStream()); }

    private Map<String, List<TfEvents.Point>> straightRun() throws Exception {
        TrainingRun.execute(RecipeLoader.load(recipeFile("straight", ""), List.of()), new AtomicBoolean(), quiet());
        return TfEvents.scalars(dir.resolve("runs/straight"));
    }

    @Test
    void interruptedAndResumedEqualsStraight() throws Exception {
        Map<String, List<TfEvents.Point>> straight = straightRun();
        Path recipe = recipeFile("stopped", "");
        LoadedRecipe loaded = RecipeLoader.load(recipe, List.of());
        TrainingRun.Outcome first = TrainingRun.execute(loaded, new AtomicBoolean(true), quiet()); // Ctrl-C during step 1
        assertTrue(first.interrupted());
        assertEquals(1, first.steps());
        TrainingRun.Outcome rest = TrainingRun.resume(loaded, dir.resolve("runs/stopped"), false, new AtomicBoolean(), quiet());
        assertEquals(STEPS, rest.steps());
        assertFalse(rest.interrupted());
        Map<String, List<TfEvents.Point>> resumed = TfEvents.scalars(dir.resolve("runs/stopped"));
        assertEquals(straight.get("train/loss"), resumed.get("train/loss"));
        assertEquals(straight.get("train/grad_norm"), resumed.get("train/grad_norm"));
        assertEquals(straight.get("train/num_tokens"), resumed.get("train/num_tokens"));
        assertEquals(straight.get("eval/loss"), resumed.get("eval/loss"));
        for (String metric : List.of("eval/exact_match", "eval/token_f1", "eval/rouge_l")) assertEquals(straight.get(metric), resumed.get(metric), metric);
        assertSameBest("stopped");
        assertEquals(List.of(0L, 6L, 12L), resumed.get("eval/token_f1").stream().map(TfEvents.Point::step).toList());
        assertTrue(TfEvents.hasSessionStart(dir.resolve("runs/stopped"), 2), "START right after the checkpoint's step");
        // keep_checkpoints (3) keeps the newest: 4, 8, 12 (the interrupted one at 1 is gone)
        try (Stream<Path> s = Files.list(dir.resolve("runs/stopped/checkpoints"))) {
            assertEquals(List.of("step-12", "step-4", "step-8"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals(STEPS, TrainingRun.resume(loaded, dir.resolve("runs/stopped"), false, new AtomicBoolean(), quiet()).steps(),
                "resuming a finished run does nothing");
    }

    /**
     * 8-bit AdamW state (codes and block scales; r=32 so that most LoRA matrices have 4096+ values) goes through the
     * checkpoint exactly: the resumed run's losses and adapter are the straight run's, bit for bit.
     */
    @Test
    void eightBitMomentsResumeExactly() throws Exception {
        List<String> overrides = List.of("lora.r=32");
        TrainingRun.execute(RecipeLoader.load(recipeFile("straight8", ", optimizer: adamw_8bit"), overrides), new AtomicBoolean(), quiet());
        LoadedRecipe loaded = RecipeLoader.load(recipeFile("stopped8", ", optimizer: adamw_8bit"), overrides);
        assertEquals(1, TrainingRun.execute(loaded, new AtomicBoolean(true), quiet()).steps()); // Ctrl-C during step 1
        assertEquals(STEPS, TrainingRun.resume(loaded, dir.resolve("runs/stopped8"), false, new AtomicBoolean(), quiet()).steps());
        Map<String, List<TfEvents.Point>> straight = TfEvents.scalars(dir.resolve("runs/straight8")), resumed = TfEvents.scalars(dir.resolve("runs/stopped8"));
        assertEquals(straight.get("train/loss"), resumed.get("train/loss"));
        assertEquals(straight.get("train/grad_norm"), resumed.get("train/grad_norm"));
        try (var f = dev.loraworkbench.trainer.io.SafetensorsFile.open(dir.resolve("runs/stopped8/checkpoints/step-12/optimizer.safetensors"))) {
            assertEquals("adamw_8bit", f.metadata().get("optimizer"));
            assertTrue(f.tensors().keySet().stream().anyMatch(k -> k.endsWith(".codes")), "8-bit codes in the checkpoint");
        }
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(dir.resolve("runs/straight8/adapter_model.safetensors")),
                Files.readAllBytes(dir.resolve("runs/stopped8/adapter_model.safetensors"))), "the same adapter");
    }

    /** With log_every 3, the averages logged after a resume include the steps before the interruption, as a straight run's do. */
    @Test
    void logWindowsSurviveAResume() throws Exception {
        TrainingRun.execute(RecipeLoader.load(recipeFile("straight3", ", log_every: 3"), List.of()), new AtomicBoolean(), quiet());
        Map<String, List<TfEvents.Point>> straight = TfEvents.scalars(dir.resolve("runs/straight3"));
        LoadedRecipe loaded = RecipeLoader.load(recipeFile("stopped3", ", log_every: 3"), List.of());
        assertEquals(1, TrainingRun.execute(loaded, new AtomicBoolean(true), quiet()).steps()); // stopped after step 1: mid-window
        TrainingRun.resume(loaded, dir.resolve("runs/stopped3"), false, new AtomicBoolean(), quiet());
        Map<String, List<TfEvents.Point>> resumed = TfEvents.scalars(dir.resolve("runs/stopped3"));
        assertEquals(List.of(3L, 6L, 9L, 12L), straight.get("train/loss").stream().map(TfEvents.Point::step).toList());
        assertEquals(straight.get("train/loss"), resumed.get("train/loss"));
        assertEquals(straight.get("train/grad_norm"), resumed.get("train/grad_norm"));
        assertEquals(straight.get("train/mean_token_accuracy"), resumed.get("train/mean_token_accuracy"));
    }

    /** Ctrl-C on an evaluation step saves at once; the resume runs that evaluation, so the curves and the best match a straight run. */
    @Test
    void aStopOnAnEvaluationStepEvaluatesOnResume() throws Exception {
        TrainingRun.execute(RecipeLoader.load(recipeFile("straight1", ""), List.of("eval.every=1")), new AtomicBoolean(), quiet());
        Map<String, List<TfEvents.Point>> straight = TfEvents.scalars(dir.resolve("runs/straight1"));
        LoadedRecipe loaded = RecipeLoader.load(recipeFile("stopped1", ""), List.of("eval.every=1"));
        assertEquals(1, TrainingRun.execute(loaded, new AtomicBoolean(true), quiet()).steps()); // stopped on step 1, an evaluation step
        TrainingRun.resume(loaded, dir.resolve("runs/stopped1"), false, new AtomicBoolean(), quiet());
        Map<String, List<TfEvents.Point>> resumed = TfEvents.scalars(dir.resolve("runs/stopped1"));
        assertEquals(7, straight.get("eval/loss").size(), "steps 0..6: exact_match sets its best at 1, patience 5 stops the run at 6");
        for (String tag : List.of("eval/loss", "eval/token_f1", "train/loss")) assertEquals(straight.get(tag), resumed.get(tag), tag);
        assertEquals(dev.loraworkbench.trainer.runs.RunStatus.read(dir.resolve("runs/straight1")).orElseThrow().best(),
                dev.loraworkbench.trainer.runs.RunStatus.read(dir.resolve("runs/stopped1")).orElseThrow().best());
    }

    /** The JVM halts (like kill -9) half-way through writing checkpoint 8: resume continues from 4, exactly. */
    @Test
    void crashDuringACheckpointWriteResumesFromThePreviousOneExactly() throws Exception {
        Map<String, List<TfEvents.Point>> straight = straightRun();
        Path recipe = recipeFile("crashed", "");
        Process child = ChildTraining.start(recipe, dir.resolve("child.log"), "workbench.crash-test.halt-in-checkpoint=8");
        assertTrue(child.waitFor(120, TimeUnit.SECONDS), "child finished");
        assertEquals(137, child.exitValue(), Files.readString(dir.resolve("child.log")));
        Path checkpoints = dir.resolve("runs/crashed/checkpoints");
        try (Stream<Path> s = Files.list(checkpoints)) {
            List<String> names = s.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(2, names.size(), names.toString());
            assertTrue(names.get(0).startsWith(".step-8.tmp-"), "half-written checkpoint under its temporary name: " + names);
            assertEquals("step-4", names.get(1));
        }
        LoadedRecipe loaded = RecipeLoader.load(recipe, List.of());
        TrainingRun.resume(loaded, dir.resolve("runs/crashed"), false, new AtomicBoolean(), quiet());
        try (Stream<Path> s = Files.list(checkpoints)) {
            assertEquals(List.of("step-12", "step-4", "step-8"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        Map<String, List<TfEvents.Point>> resumed = TfEvents.scalars(dir.resolve("runs/crashed"));
        assertEquals(straight.get("train/loss"), resumed.get("train/loss"));
        assertEquals(straight.get("eval/loss"), resumed.get("eval/loss"));
        assertSameBest("crashed");
        assertTrue(TfEvents.hasSessionStart(dir.resolve("runs/crashed"), 5));
    }

    /**
     * A checkpoint whose file changed after it was written (a disk error, a partial copy): its hash says so, the resume
     * says which file, takes the checkpoint before it and, training the steps again, ends where a straight run ends.
     */
    @Test
    void aDamagedNewestCheckpointIsSkippedForTheOneBefore() throws Exception {
        Map<String, List<TfEvents.Point>> straight = straightRun();
        LoadedRecipe loaded = RecipeLoader.load(recipeFile("damaged", ""), List.of());
        TrainingRun.execute(loaded, new AtomicBoolean(), quiet());
        Path optimizer = dir.resolve("runs/damaged/checkpoints/step-12/optimizer.safetensors");
        byte[] bytes = Files.readAllBytes(optimizer);
        bytes[bytes.length - 1] ^= 1; // one flipped bit in the last moment
        Files.write(optimizer, bytes);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        TrainingRun.Outcome outcome = TrainingRun.resume(loaded, dir.resolve("runs/damaged"), false, new AtomicBoolean(), new PrintStream(log));
        assertTrue(log.toString().contains("skipped  step-12: optimizer.safetensors does not match the hash it was saved with"), log.toString());
        assertTrue(log.toString().contains("checkpoints/step-8 from step 8"), log.toString());
        assertEquals(STEPS, outcome.steps());
        assertEquals(straight.get("train/loss"), TfEvents.scalars(dir.resolve("runs/damaged")).get("train/loss"));
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(dir.resolve("runs/straight/checkpoints/step-12/optimizer.safetensors")),
                Files.readAllBytes(optimizer)), "step 12 written again, as the straight run wrote it");
    }

    /** kill -9 at an arbitrary moment after checkpoint 4 is complete: resume continues from the newest complete one. */
    @Test
    void killMinus9ThenResumeEqualsStraight() throws Exception {
        Map<String, List<TfEvents.Point>> straight = straightRun();
        Path recipe = recipeFile("killed", "");
        Process child = ChildTraining.start(recipe, dir.resolve("child.log"));
        ChildTraining.killOnceWritten(child, dir.resolve("runs/killed/checkpoints/step-4/trainer_state.json"), dir.resolve("child.log"));
        LoadedRecipe loaded = RecipeLoader.load(recipe, List.of());
        TrainingRun.resume(loaded, dir.resolve("runs/killed"), false, new AtomicBoolean(), quiet());
        assertEquals(straight.get("train/loss"), TfEvents.scalars(dir.resolve("runs/killed")).get("train/loss"));
    }

    @Test
    void changedDataIsRefused() throws Exception {
        Path data = Files.copy(TinyModelFixture.sampleData(), dir.resolve("qa.jsonl"));
        Path recipe = Files.writeString(dir.resolve("d.yaml"), Files.readString(recipeFile("data", ""))
                .replace(TinyModelFixture.sampleData().toString(), data.toString()));
        TrainingRun.execute(RecipeLoader.load(recipe, List.of()), new AtomicBoolean(true), quiet());
        Files.writeString(data, "{\"question\": \"new?\", \"answer\": \"yes\"}\n", java.nio.file.StandardOpenOption.APPEND);
        RecipeException e = assertThrows(RecipeException.class,
                () -> TrainingRun.resume(RecipeLoader.load(recipe, List.of()), dir.resolve("runs/data"), false, new AtomicBoolean(), quiet()));
        assertTrue(e.getMessage().contains("the data changed since"), e.getMessage());
    }

    @Test
    void aChangedRecipeIsRefusedWithTheDifferences() throws Exception {
        Path recipe = recipeFile("changed", "");
        TrainingRun.execute(RecipeLoader.load(recipe, List.of()), new AtomicBoolean(true), quiet());
        LoadedRecipe changed = RecipeLoader.load(recipe, List.of("training.lr=0.001", "training.eval_every=3"));
        RecipeException e = assertThrows(RecipeException.class,
                () -> TrainingRun.resume(changed, dir.resolve("runs/changed"), false, new AtomicBoolean(), quiet()));
        assertTrue(e.problems().contains("  training.eval_every: 6 -> 3"), e.problems().toString());
        assertTrue(e.problems().contains("  training.lr: 0.003 -> 0.001"), e.problems().toString());
        assertTrue(e.getMessage().contains("--allow-recipe-change"));
        LoadedRecipe lora = RecipeLoader.load(recipe, List.of("lora.r=8"));
        RecipeException structural = assertThrows(RecipeException.class,
                () -> TrainingRun.resume(lora, dir.resolve("runs/changed"), true, new AtomicBoolean(), quiet()));
        assertTrue(structural.getMessage().contains("cannot change within a run"), structural.getMessage());
        TrainingRun.Outcome allowed = TrainingRun.resume(changed, dir.resolve("runs/changed"), true, new AtomicBoolean(), quiet());
        assertEquals(STEPS, allowed.steps());
        assertTrue(Files.readString(dir.resolve("runs/changed/recipe.yaml")).contains("eval_every: 3"), "the run follows the changed recipe");
    }
}
