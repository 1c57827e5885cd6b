package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.events.TfEvents;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.runs.RunDirectory;
import dev.loraworkbench.trainer.runs.RunException;
import dev.loraworkbench.trainer.runs.RunStatus;
import dev.loraworkbench.trainer.testing.ChildTraining;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a run leaves when it is cut short at its edges (before its first checkpoint, after its last, on a full disk, twice at once). */
class RunLifecycleTest {
    @TempDir Path dir;

    private Path recipeFile(String name) throws Exception {
        return Files.writeString(dir.resolve(name + ".yaml"), """
                model: {path: %s}
                lora: {r: 4, alpha: 8, dropout: 0.1}
                dataset: {path: %s, max_seq_len: 96}
                training: {max_steps: 4, micro_batch_size: 4, lr: 3.0e-3, save_every: 2}
                output: {runs_dir: runs, name: %s}
                """.formatted(TinyModelFixture.dir(), TinyModelFixture.sampleData(), name));
    }

    private LoadedRecipe recipe(String name) throws Exception {
        return RecipeLoader.load(recipeFile(name), List.of());
    }

    private static PrintStream quiet() { return new PrintStream(new ByteArrayOutputStream()); }

    private List<TfEvents.Point> straightLoss() throws Exception {
        TrainingRun.execute(recipe("straight"), new AtomicBoolean(), quiet());
        return TfEvents.scalars(dir.resolve("runs/straight")).get("train/loss");
    }

    private static long eventFiles(Path runDir) throws Exception {
        try (Stream<Path> s = Files.list(runDir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents")).count();
        }
    }

    /** kill -9 after recipe.yaml but before checkpoints/step-N: the run was stuck forever; now resume starts it over. */
    @Test
    void aRunCutBeforeItsFirstCheckpointStartsOverOnResume() throws Exception {
        List<TfEvents.Point> straight = straightLoss();
        LoadedRecipe loaded = recipe("cut");
        Path runDir = dir.resolve("runs/cut");
        Files.createDirectories(runDir.resolve("checkpoints/.step-2.tmp-123"));
        Files.writeString(runDir.resolve(RunDirectory.RECIPE), loaded.resolvedYaml());
        Files.writeString(runDir.resolve("events.out.tfevents.1.host.0"), "half an event file");
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Files.writeString(runDir.resolve(RunStatus.FILE), "{\"status\": \"running\", \"started\": \"2026-01-01T00:00:00Z\", \"steps\": 0, "
                + "\"total_steps\": 4, \"base_model\": \"m\", \"quantization\": \"none\", \"r\": 4, \"lr\": 0.003, \"pid\": " + gone.pid() + "}");

        RunException taken = assertThrows(RunException.class, () -> TrainingRun.execute(loaded, new AtomicBoolean(), quiet()));
        assertTrue(taken.getMessage().contains("already exists and is not empty; resume it"), taken.getMessage());
        TrainingRun.Outcome out = TrainingRun.resume(loaded, runDir, false, new AtomicBoolean(), quiet());
        assertEquals(4, out.steps());
        assertEquals(straight, TfEvents.scalars(runDir).get("train/loss"), "the same curve as a run never cut");
        assertEquals(1, eventFiles(runDir), "the cut run's events are gone, not mixed into the new curve");
        assertEquals(RunStatus.Status.FINISHED, RunStatus.read(runDir).orElseThrow().status());
        assertTrue(Arrays.equals(Files.readAllBytes(dir.resolve("runs/straight").resolve(PeftFormat.WEIGHTS)), Files.readAllBytes(runDir.resolve(PeftFormat.WEIGHTS))));
    }

    /** kill -9 right after the last checkpoint: resume said "nothing to do" and the run had no adapter; now resume writes its end. */
    @Test
    void aRunCutAfterItsLastCheckpointGetsItsEndOnResume() throws Exception {
        straightLoss();
        Path recipe = recipeFile("ended");
        Process child = ChildTraining.start(recipe, dir.resolve("child.log"), "workbench.crash-test.halt-after-last-checkpoint=true");
        assertTrue(child.waitFor(120, TimeUnit.SECONDS), "child finished");
        assertEquals(137, child.exitValue(), Files.readString(dir.resolve("child.log")));
        Path runDir = dir.resolve("runs/ended");
        assertTrue(Files.isRegularFile(runDir.resolve("checkpoints/step-4/trainer_state.json")));
        assertFalse(Files.exists(runDir.resolve(PeftFormat.WEIGHTS)), "cut before the end was written");

        TrainingRun.Outcome out = TrainingRun.resume(RecipeLoader.load(recipe, List.of()), runDir, false, new AtomicBoolean(), quiet());
        assertEquals(4, out.steps());
        assertEquals(RunStatus.Status.FINISHED, RunStatus.read(runDir).orElseThrow().status());
        assertEquals(4, RunStatus.read(runDir).orElseThrow().steps());
        assertTrue(Arrays.equals(Files.readAllBytes(dir.resolve("runs/straight").resolve(PeftFormat.WEIGHTS)), Files.readAllBytes(runDir.resolve(PeftFormat.WEIGHTS))));
        assertEquals(List.of(4L), TfEvents.hparamsSessionEndSteps(runDir), "the hparams session ends once, at the last step");
    }

    /** Two trainings with one output.name started together shared a directory; now the second is refused. */
    @Test
    void aRunDirectoryHeldByAnotherTrainingIsRefused() throws Exception {
        LoadedRecipe loaded = recipe("held");
        try (RunDirectory.Lease other = RunDirectory.lease(dir.resolve("runs/held"))) {
            RunException e = assertThrows(RunException.class, () -> TrainingRun.execute(loaded, new AtomicBoolean(), quiet()));
            assertTrue(e.getMessage().contains("runs/held is being trained right now by another process"), e.getMessage());
            assertThrows(RunException.class, () -> TrainingRun.resume(loaded, dir.resolve("runs/held"), false, new AtomicBoolean(), quiet()));
        }
        assertEquals(4, TrainingRun.execute(loaded, new AtomicBoolean(), quiet()).steps(), "free once the other lets go");
    }

    /** A run whose set-up fails (here: its data is missing) leaves no directory; resuming a directory that is no run says so. */
    @Test
    void aRunThatNeverStartedLeavesNothingBehind() throws Exception {
        Path recipe = Files.writeString(dir.resolve("nodata.yaml"), Files.readString(recipeFile("nodata"))
                .replace(TinyModelFixture.sampleData().toString(), dir.resolve("missing.jsonl").toString()));
        LoadedRecipe loaded = RecipeLoader.load(recipe, List.of());
        assertThrows(dev.loraworkbench.datasets.DatasetException.class, () -> TrainingRun.execute(loaded, new AtomicBoolean(), quiet()));
        assertFalse(Files.exists(dir.resolve("runs/nodata")), "no half-made run directory");
        RunException e = assertThrows(RunException.class, () -> TrainingRun.resume(loaded, dir.resolve("runs/nodata"), false, new AtomicBoolean(), quiet()));
        assertTrue(e.getMessage().contains("is not a run directory"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("runs/nodata")), "resume does not create it either");
    }

    /** A full disk while writing a checkpoint: a clear message naming the last complete checkpoint, and resume continues exactly. */
    @Test
    void aFullDiskEndsTheRunWithWhereToResume() throws Exception {
        List<TfEvents.Point> straight = straightLoss();
        LoadedRecipe loaded = recipe("full");
        TrainingRun.TrainingFailedException e;
        System.setProperty("workbench.fault-test.disk-full-in-checkpoint", "4");
        try {
            e = assertThrows(TrainingRun.TrainingFailedException.class, () -> TrainingRun.execute(loaded, new AtomicBoolean(), quiet()));
        } finally {
            System.clearProperty("workbench.fault-test.disk-full-in-checkpoint");
        }
        Path runDir = dir.resolve("runs/full");
        assertTrue(e.getMessage().contains("No space left on device while writing checkpoint step-4; the last complete checkpoint is step-2; "
                + "free space (or fix permissions) and run ./workbench resume " + runDir), e.getMessage());
        assertEquals(RunStatus.Status.FAILED, RunStatus.read(runDir).orElseThrow().status());
        assertEquals(4, TrainingRun.resume(loaded, runDir, false, new AtomicBoolean(), quiet()).steps());
        assertEquals(straight, TfEvents.scalars(runDir).get("train/loss"));
    }
}
