package dev.loraworkbench.trainer.train;

import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.runs.ResumePoint;
import dev.loraworkbench.trainer.runs.RunDirectory;
import dev.loraworkbench.trainer.runs.TrainerState;
import java.io.IOException;
import java.io.PrintStream;
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

    /** A new run in a new run directory. */
    public static Outcome execute(LoadedRecipe loaded, AtomicBoolean stop, PrintStream log) throws IOException {
        Path dir = RunDirectory.dirFor(loaded);
        RunDirectory.checkFree(dir); // before minutes of loading, not after
        try (TrainingSetup setup = TrainingSetup.open(loaded, log)) {
            RunDirectory run = RunDirectory.create(dir, loaded);
            log.printf("run      %s%n", run.dir());
            setup.describe(loaded, log);
            var start = TrainingLoop.Start.fresh(loaded.recipe().training().metricForBest(), ResumePoint.dataSha256(loaded));
            return new TrainingLoop(loaded, setup, run, start, log).run(stop);
        }
    }

    /**
     * Continues the run in {@code runDir} from its newest complete checkpoint. The recipe must be the one
     * the checkpoint was trained with unless {@code allowRecipeChange}.
     */
    public static Outcome resume(LoadedRecipe loaded, Path runDir, boolean allowRecipeChange, AtomicBoolean stop, PrintStream log) throws IOException {
        ResumePoint point = ResumePoint.admit(loaded, runDir, allowRecipeChange);
        TrainerState state = point.state();
        Path checkpoint = point.checkpoint();
        try (TrainingSetup setup = TrainingSetup.open(loaded, log, checkpoint)) {
            boolean early = TrainerState.EARLY_STOP.equals(state.reason());
            if (state.globalStep() >= setup.plan().totalSteps() || early) {
                log.printf("nothing to do: %s already finished at step %d of %d%s%n", runDir, state.globalStep(), setup.plan().totalSteps(),
                        early ? " (early stopping)" : "");
                return new Outcome(runDir, state.globalStep(), setup.plan().totalSteps(), Double.NaN, state.trainLoss(), false, early);
            }
            log.printf("resume   %s from step %d%s%n", checkpoint, state.globalStep(),
                    point.changes().isEmpty() ? "" : " (recipe changed: " + point.changes() + ")");
            setup.describe(loaded, log);
            var start = new TrainingLoop.Start(state.globalStep(), state.tokensSeen(), point.window(), point.best(loaded), point.dataSha256());
            return new TrainingLoop(loaded, setup, new RunDirectory(runDir), start, log).run(stop);
        }
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
    }
}
