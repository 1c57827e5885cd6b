package dev.loraworkbench.trainer.train;

import dev.loraworkbench.trainer.device.CpuThreads;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.runs.ResumePoint;
import dev.loraworkbench.trainer.runs.RunDirectory;
import dev.loraworkbench.trainer.runs.RunStatus;
import dev.loraworkbench.trainer.runs.TrainerState;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A whole training run from a recipe: prepare the model and data, loop over optimizer steps, write
 * TensorBoard events, evaluate, checkpoint (every save_every steps, at the end and on a stop request)
 * and save the adapter. {@code stop} (set on Ctrl-C) ends the loop after the current step.
 *
 * <p>Resume is exact: a checkpoint holds the adapter, the AdamW moments and step count, and the step;
 * everything else a step depends on (data order, learning rate, dropout masks) is a function of
 * (seed, step).
 */
public final class TrainingRun {
    /** How the run ended and where its outputs are. */
    public record Outcome(Path runDir, int steps, int plannedSteps, double firstLoss, double lastLoss, boolean interrupted, boolean stoppedEarly) {}

    private TrainingRun() {}

    /** A new run in a new run directory, held by this process until it ends. */
    public static Outcome execute(LoadedRecipe loaded, AtomicBoolean stop, PrintStream log) throws IOException {
        Path dir = RunDirectory.dirFor(loaded);
        CpuThreads.checkSetting();
        RunDirectory.checkFree(dir); // before minutes of loading, not after
        try (RunDirectory.Lease lease = RunDirectory.lease(dir)) {
            RunDirectory.checkFree(dir); // again under the lease: a process that started with ours may have taken the name
            try (TrainingSetup setup = TrainingSetup.open(loaded, log)) {
                RunDirectory run = RunDirectory.create(dir, loaded);
                log.printf("run      %s%n", run.dir());
                return fromStepZero(loaded, setup, run, stop, log);
            } catch (RuntimeException | IOException e) {
                RunDirectory.removeIfUnused(dir); // a run that never started leaves no directory behind
                throw e;
            }
        }
    }

    private static Outcome fromStepZero(LoadedRecipe loaded, TrainingSetup setup, RunDirectory run, AtomicBoolean stop, PrintStream log)
            throws IOException {
        setup.describe(loaded, log);
        var start = TrainingLoop.Start.fresh(loaded.recipe().training().metricForBest(), ResumePoint.dataSha256(loaded));
        return new TrainingLoop(loaded, setup, run, start, log).run(stop);
    }

    /**
     * Continues the run in {@code runDir} from its newest complete checkpoint (the recipe must be the one it was trained
     * with unless {@code allowRecipeChange}); a run that never reached a checkpoint starts over at step 0, and one that
     * reached its end without writing it (killed after its last checkpoint) gets its end written.
     */
    public static Outcome resume(LoadedRecipe loaded, Path runDir, boolean allowRecipeChange, AtomicBoolean stop, PrintStream log) throws IOException {
        if (!Files.isRegularFile(runDir.resolve(RunDirectory.RECIPE))) {
            throw new dev.loraworkbench.trainer.runs.RunException(runDir + " is not a run directory (no " + RunDirectory.RECIPE
                    + "); start one with ./workbench train RECIPE");
        }
        CpuThreads.checkSetting();
        try (RunDirectory.Lease lease = RunDirectory.lease(runDir)) {
            ResumePoint point = ResumePoint.admit(loaded, runDir, allowRecipeChange);
            for (String damaged : point.skipped()) log.printf("skipped  %s; resuming from an older checkpoint%n", damaged);
            RunDirectory run = new RunDirectory(runDir);
            // after admission: a refused resume (another recipe) must not prune by the refused recipe's keep_checkpoints
            java.util.List<String> leftovers = run.tidyAfterCrash(loaded.recipe().training().keepCheckpoints());
            if (!leftovers.isEmpty()) log.printf("tidy     removed what an interrupted run left: %s%n", String.join(", ", leftovers));
            if (point.fromScratch()) {
                log.printf("restart  %s stopped before its first checkpoint: training again from step 0%n", runDir);
                run.clearForRestart();
                try (TrainingSetup setup = TrainingSetup.open(loaded, log)) {
                    return fromStepZero(loaded, setup, run, stop, log);
                }
            }
            TrainerState state = point.state();
            Path checkpoint = point.checkpoint();
            try (TrainingSetup setup = TrainingSetup.open(loaded, log, checkpoint)) {
                boolean early = TrainerState.EARLY_STOP.equals(state.reason());
                boolean evalPending = "interrupted".equals(state.reason()) && TrainingLoop.isEvalStep(loaded, state.globalStep(), setup.plan().totalSteps());
                var start = new TrainingLoop.Start(state.globalStep(), state.tokensSeen(), point.window(), point.best(loaded), point.dataSha256(),
                        evalPending);
                if (state.globalStep() >= setup.plan().totalSteps() || early) {
                    if (!endWritten(runDir)) {
                        log.printf("complete %s reached step %d but its end was not written: writing it from %s%n", runDir, state.globalStep(), checkpoint);
                        return new TrainingLoop(loaded, setup, run, start, log).completeEnd(early, state.trainLoss());
                    }
                    log.printf("nothing to do: %s already finished at step %d of %d%s%n", runDir, state.globalStep(), setup.plan().totalSteps(),
                            early ? " (early stopping)" : "");
                    return new Outcome(runDir, state.globalStep(), setup.plan().totalSteps(), Double.NaN, state.trainLoss(), false, early);
                }
                log.printf("resume   %s from step %d%s%n", checkpoint, state.globalStep(),
                        point.changes().isEmpty() ? "" : " (recipe changed: " + point.changes() + ")");
                setup.describe(loaded, log);
                return new TrainingLoop(loaded, setup, run, start, log).run(stop);
            }
        }
    }

    /** The final adapter is in the run directory and run.json says the run finished. */
    private static boolean endWritten(Path runDir) {
        boolean weights = Files.isRegularFile(runDir.resolve(PeftFormat.WEIGHTS))
                || Files.isRegularFile(runDir.resolve(RunDirectory.MODEL_DIR).resolve(RunDirectory.MODEL_WEIGHTS));
        return weights && RunStatus.read(runDir).map(s -> s.status() == RunStatus.Status.FINISHED).orElse(false);
    }

    /** A run that cannot go on (e.g. NaN loss); the message says what to do. */
    public static final class TrainingFailedException extends dev.loraworkbench.datasets.UserError {
        public TrainingFailedException(String message) { super(message); }
    }

    /**
     * Fault injection for the crash tests: with -Dworkbench.crash-test.halt-in-checkpoint=N the JVM halts
     * (like kill -9) half-way through writing checkpoint N.
     */
    static final class CrashTesting {
        static void maybeHalt(int step) {
            if (Integer.toString(step).equals(System.getProperty("workbench.crash-test.halt-in-checkpoint"))) {
                Runtime.getRuntime().halt(137);
            }
        }

        /** With -Dworkbench.fault-test.disk-full-in-checkpoint=N writing checkpoint N fails as a full disk does. */
        static void maybeFailWrite(int step, Path dir) throws IOException {
            if (Integer.toString(step).equals(System.getProperty("workbench.fault-test.disk-full-in-checkpoint"))) {
                throw new java.nio.file.FileSystemException(dir.toString(), null, "No space left on device");
            }
        }

        /** With -Dworkbench.crash-test.halt-after-last-checkpoint the JVM halts right after the last checkpoint, before the run's end. */
        static void maybeHaltBeforeTheEnd() {
            if (System.getProperty("workbench.crash-test.halt-after-last-checkpoint") != null) Runtime.getRuntime().halt(137);
        }
    }
}
