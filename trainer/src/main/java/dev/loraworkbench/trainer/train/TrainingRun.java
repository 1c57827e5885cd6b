package dev.loraworkbench.trainer.train;

import dev.loraworkbench.trainer.io.ProgressBars;
import ai.djl.engine.Engine;
import dev.loraworkbench.trainer.events.EventWriter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.recipe.RecipeDiff;
import dev.loraworkbench.trainer.runs.LogWindow;
import dev.loraworkbench.trainer.runs.ResumePoint;
import dev.loraworkbench.trainer.runs.RunDirectory;
import dev.loraworkbench.trainer.runs.TrainerState;
import dev.loraworkbench.trainer.runs.RunStatus;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import me.tongfei.progressbar.ProgressBar;

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
    public record Outcome(Path runDir, int steps, int plannedSteps, double firstLoss, double lastLoss, boolean interrupted) {}

    private TrainingRun() {}

    /** A new run in a new run directory. */
    public static Outcome execute(LoadedRecipe loaded, AtomicBoolean stop, PrintStream log) throws IOException {
        Path dir = RunDirectory.dirFor(loaded);
        RunDirectory.checkFree(dir); // before minutes of loading, not after
        try (TrainingSetup setup = TrainingSetup.open(loaded, log)) {
            RunDirectory run = RunDirectory.create(dir, loaded);
            log.printf("run      %s%n", run.dir());
            setup.describe(loaded, log);
            return loop(loaded, setup, run, Start.fresh(ResumePoint.dataSha256(loaded)), stop, log);
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
            if (state.globalStep() >= setup.plan().totalSteps()) {
                log.printf("nothing to do: %s already finished at step %d of %d%n", runDir, state.globalStep(), setup.plan().totalSteps());
                return new Outcome(runDir, state.globalStep(), setup.plan().totalSteps(), Double.NaN, state.trainLoss(), false);
            }
            log.printf("resume   %s from step %d%s%n", checkpoint, state.globalStep(),
                    point.changes().isEmpty() ? "" : " (recipe changed: " + point.changes() + ")");
            setup.describe(loaded, log);
            return loop(loaded, setup, new RunDirectory(runDir), new Start(state.globalStep(), state.tokensSeen(), point.window(), point.dataSha256()),
                    stop, log);
        }
    }

    /** Where the loop begins: step and tokens so far, the open log window, and the data's hash for the checkpoints it writes. */
    private record Start(int step, long tokensSeen, LogWindow window, String dataSha256) {
        static Start fresh(String dataSha256) { return new Start(0, 0, LogWindow.EMPTY, dataSha256); }
    }

    private static Outcome loop(LoadedRecipe loaded, TrainingSetup setup, RunDirectory run, Start start, AtomicBoolean stop, PrintStream log)
            throws IOException {
        int startStep = start.step();
        long startTokens = start.tokensSeen();
        String dataHash = start.dataSha256();
        Recipe.TrainingSection t = loaded.recipe().training();
        TrainingData data = setup.data();
        Trainer trainer = setup.trainer();
        StepPlan plan = setup.plan();
        int total = plan.totalSteps();
        String recipeYaml = loaded.resolvedYaml();
        double first = Double.NaN;
        double last = Double.NaN;
        int step = startStep;
        long tokensSeen = startTokens;
        LogWindow window = start.window();
        long started = System.nanoTime();
        RunStatus status = startStatus(loaded, run, setup, startStep);
        Double bestEval = status.bestEvalLoss();
        try (EventWriter events = EventWriter.create(run.dir());
             ProgressBar bar = ProgressBars.of("train", startStep, total, " steps", 1)) {
            if (startStep > 0) {
                // TensorBoard drops every point at or after a START's step: the resumed session begins at startStep + 1
                events.sessionLog(startStep + 1, EventWriter.SessionStatus.START);
            } else {
                events.text("recipe", 0, "    " + recipeYaml.replace("\n", "\n    ")); // indented: a markdown code block
                events.hparamsSessionStart(hparams(loaded, setup), System.currentTimeMillis() / 1000.0);
            }
            while (step < total) {
                step++;
                // dropout draws are a pure function of (seed, step): reruns and resumed runs see the same masks
                Engine.getEngine("PyTorch").setRandomSeed(t.seed() * 1_000_003 + step);
                Trainer.StepResult s;
                try {
                    s = trainer.step(plan.microBatches(step), setup.schedule().lrForStep(step));
                } catch (Trainer.NonFiniteException e) {
                    String why = "step " + step + ": " + e.getMessage()
                            + " is not finite; lower training.lr or check the data. Checkpoints saved so far are kept in " + run.checkpointsDir();
                    status.end(RunStatus.Status.FAILED, why).write(run.dir());
                    throw new TrainingFailedException(why);
                }
                tokensSeen += s.inputTokens();
                if (Double.isNaN(first)) first = s.loss();
                last = s.loss();
                window = window.add(s.loss(), s.gradNorm(), s.targetTokens(), s.correct(), s.skipped());
                if (s.skipped()) {
                    log.printf("%nstep %d: fp16 gradients overflowed; update skipped, loss scale now %.0f%n", step, trainer.scaler().scale());
                }
                double seconds = (System.nanoTime() - started) / 1e9;
                bar.stepTo(step);
                bar.setExtraMessage(String.format("loss %.4f  %.0f tok/s", s.loss(), (tokensSeen - startTokens) / seconds));
                if (step % t.logEvery() == 0 || step == total) {
                    events.scalar("train/loss", step, window.loss());
                    events.scalar("train/grad_norm", step, window.meanGradNorm());
                    events.scalar("train/learning_rate", step, s.lr());
                    events.scalar("train/mean_token_accuracy", step, window.accuracy());
                    events.scalar("train/epoch", step, plan.epochAt(step));
                    events.scalar("train/num_tokens", step, tokensSeen);
                    if (trainer.scaler() != null) events.scalar("train/loss_scale", step, trainer.scaler().scale());
                    window = LogWindow.EMPTY;
                }
                // an interrupted thread (a notebook's interrupt button) stops like Ctrl-C; the flag is cleared so the
                // checkpoint's file channels are not closed by it
                if (Thread.interrupted()) stop.set(true);
                boolean interrupted = stop.get() && step < total; // save at once; the eval can wait for the resume
                if (!interrupted && !data.eval().isEmpty() && ((t.evalEvery() > 0 && step % t.evalEvery() == 0) || step == total)) {
                    Trainer.EvalResult e = trainer.evaluate(data.eval(), t.microBatchSize());
                    events.scalar("eval/loss", step, e.loss());
                    events.scalar("eval/mean_token_accuracy", step, e.accuracy());
                    if (bestEval == null || e.loss() < bestEval) bestEval = e.loss();
                }
                if ((t.saveEvery() > 0 && step % t.saveEvery() == 0) || step == total || interrupted) {
                    String reason = step == total ? "end" : interrupted ? "interrupted" : "save_every";
                    TrainerState state = new TrainerState(step, total, tokensSeen, t.seed(), RecipeDiff.sha256(recipeYaml), dataHash, reason, last,
                            Instant.now().toString(), window);
                    run.saveCheckpoint(step, t.keepCheckpoints(), dir -> writeCheckpoint(setup, state, recipeYaml, dir));
                    status = status.progress(step, last, bestEval);
                    status.write(run.dir());
                }
                if (interrupted) break; // a stop request ends the run after the step it arrived in
            }
            events.hparamsSessionEnd(step < total ? EventWriter.HparamsStatus.RUNNING : EventWriter.HparamsStatus.SUCCESS, System.currentTimeMillis() / 1000.0, step);
        } catch (RuntimeException | IOException e) {
            if (!(e instanceof TrainingFailedException)) status.progress(step, last, bestEval).end(RunStatus.Status.FAILED, String.valueOf(e.getMessage())).write(run.dir());
            throw e;
        }
        PeftFormat.write(setup.adapter(), run.dir(), setup.modelDir().toString());
        double seconds = (System.nanoTime() - started) / 1e9;
        int done = step - startStep;
        boolean interrupted = step < total;
        status.progress(step, last, bestEval).end(interrupted ? RunStatus.Status.INTERRUPTED : RunStatus.Status.FINISHED, null).write(run.dir());
        log.printf("%s after %d/%d steps in %.1f s (%.2f steps/s, %.0f tok/s); loss %.4f -> %.4f%n", interrupted ? "interrupted" : "finished",
                step, total, seconds, done / seconds, (tokensSeen - startTokens) / seconds, first, last);
        log.printf("adapter  %s%n", run.dir().resolve(PeftFormat.WEIGHTS));
        if (interrupted) log.printf("resume   ./workbench resume %s%n", run.dir());
        log.printf("events   tensorboard --logdir %s%n", run.dir().getParent());
        return new Outcome(run.dir(), step, total, first, last, interrupted);
    }

    /** The hyper-parameters TensorBoard's HPARAMS tab lists for this run. */
    private static Map<String, Object> hparams(LoadedRecipe loaded, TrainingSetup setup) {
        Recipe r = loaded.recipe();
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("model", setup.modelDir().getFileName().toString());
        h.put("quantization", r.quantization().type().name().toLowerCase());
        h.put("quantization.compute_dtype", r.quantization().computeDtype().name().toLowerCase());
        h.put("device", dev.loraworkbench.trainer.device.ComputeDevice.name(setup.model().manager().getDevice()));
        h.put("lora.r", r.lora().r());
        h.put("lora.alpha", r.lora().alpha());
        h.put("lora.dropout", r.lora().dropout());
        h.put("lora.target_modules", String.join(",", setup.adapter().settings().targetModules()));
        h.put("lora.use_rslora", r.lora().useRslora());
        h.put("dataset.max_seq_len", r.dataset().maxSeqLen());
        h.put("training.lr", r.training().lr());
        h.put("training.schedule", r.training().schedule().name().toLowerCase());
        h.put("training.warmup_steps", setup.schedule().warmupSteps());
        h.put("training.steps", setup.plan().totalSteps());
        h.put("training.micro_batch_size", r.training().microBatchSize());
        h.put("training.grad_accum", r.training().gradAccum());
        h.put("training.weight_decay", r.training().weightDecay());
        h.put("training.seed", r.training().seed());
        return h;
    }

    /** run.json of a new run, or of a resumed one set back to running under this process. */
    private static RunStatus startStatus(LoadedRecipe loaded, RunDirectory run, TrainingSetup setup, int startStep) throws IOException {
        Recipe r = loaded.recipe();
        long pid = ProcessHandle.current().pid();
        RunStatus status = RunStatus.read(run.dir())
                .map(old -> new RunStatus(RunStatus.Status.RUNNING, old.started(), null, startStep, setup.plan().totalSteps(), old.finalTrainLoss(),
                        old.bestEvalLoss(), old.baseModel(), old.quantization(), old.r(), old.lr(), pid, null))
                .orElseGet(() -> new RunStatus(RunStatus.Status.RUNNING, Instant.now().toString(), null, startStep, setup.plan().totalSteps(), null,
                        null, setup.modelDir().toString(), r.quantization().type().name().toLowerCase(), r.lora().r(), r.training().lr(), pid, null));
        status.write(run.dir());
        return status;
    }

    /** Adapter, optimizer moments, recipe, and trainer_state.json last. */
    private static void writeCheckpoint(TrainingSetup setup, TrainerState state, String recipeYaml, Path dir) throws IOException {
        PeftFormat.write(setup.adapter(), dir, setup.modelDir().toString());
        var scaler = setup.trainer().scaler();
        setup.optimizer().writeState(dir.resolve(RunDirectory.OPTIMIZER), scaler == null ? java.util.Map.of() : scaler.state());
        dev.loraworkbench.trainer.io.AtomicFiles.writeString(dir.resolve(RunDirectory.RECIPE), recipeYaml);
        CrashTesting.maybeHalt(state.globalStep());
        state.write(dir);
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
