package dev.loraworkbench.trainer.train;

import ai.djl.engine.Engine;
import dev.loraworkbench.trainer.device.ComputeDevice;
import dev.loraworkbench.trainer.device.CpuThreads;
import dev.loraworkbench.trainer.eval.GenerationEval;
import dev.loraworkbench.trainer.eval.LossEval;
import dev.loraworkbench.trainer.events.EventWriter;
import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.io.ProgressBars;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.recipe.RecipeDiff;
import dev.loraworkbench.trainer.runs.BestSoFar;
import dev.loraworkbench.trainer.runs.LogWindow;
import dev.loraworkbench.trainer.runs.RunDirectory;
import dev.loraworkbench.trainer.runs.RunStatus;
import dev.loraworkbench.trainer.runs.TrainerState;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import me.tongfei.progressbar.ProgressBar;

/**
 * The optimizer steps of one session of a run (fresh, or resumed from a checkpoint): step, log, evaluate, checkpoint,
 * with run.json kept current. {@link #run} is the loop; each thing it does per step is one method below it.
 */
final class TrainingLoop {
    /**
     * Where the loop begins: step and tokens so far, the open log window, the best evaluation so far (with its patience
     * count), and the data's hash for the checkpoints it writes.
     */
    record Start(int step, long tokensSeen, LogWindow window, BestSoFar best, String dataSha256, boolean evalPending) {
        static Start fresh(String metric, String dataSha256) { return new Start(0, 0, LogWindow.EMPTY, BestSoFar.none(metric), dataSha256, false); }
    }

    /** Answers shown in each evaluation's TEXT summary. */
    private static final int SAMPLE_ROWS = 5;

    private final LoadedRecipe loaded;
    private final TrainingSetup setup;
    private final RunDirectory run;
    private final Start start;
    private final PrintStream log;
    private final Recipe.TrainingSection t;
    private final int total;
    private final String recipeYaml;
    private int step;
    private long tokensSeen;
    private LogWindow window;
    private double first = Double.NaN;
    private double last = Double.NaN;
    private Double bestEval;
    private BestSoFar best;
    private boolean stoppedEarly;
    private RunStatus status;

    TrainingLoop(LoadedRecipe loaded, TrainingSetup setup, RunDirectory run, Start start, PrintStream log) {
        this.loaded = loaded;
        this.setup = setup;
        this.run = run;
        this.start = start;
        this.log = log;
        this.t = loaded.recipe().training();
        this.total = setup.plan().totalSteps();
        this.recipeYaml = loaded.resolvedYaml();
        this.step = start.step();
        this.tokensSeen = start.tokensSeen();
        this.window = start.window();
        this.best = start.best();
    }

    /** Steps until the plan's end or a stop request ({@code stop}, or an interrupted thread), then saves the adapter. */
    TrainingRun.Outcome run(AtomicBoolean stop) throws IOException {
        long started = System.nanoTime();
        status = startStatus();
        bestEval = status.bestEvalLoss();
        try (EventWriter events = EventWriter.create(run.dir()); ProgressBar bar = ProgressBars.of("train", start.step(), total, " steps", 1)) {
            beginSession(events);
            // step 0: the base model's scores, so every run shows its own baseline; a stop request that arrived on an
            // evaluation step saved at once and left that evaluation to the resume, which runs it on the same adapter
            if ((step == 0 || start.evalPending()) && hasEvalData()) evaluate(events);
            Optional<CpuThreads> threads = setup.model().manager().getDevice().isGpu() ? Optional.empty() : CpuThreads.fromEnvironment();
            while (step < total) {
                step++;
                threads.flatMap(CpuThreads::adjust).ifPresent(c -> log.printf("%nstep %d: %s%n", step, c.describe()));
                Trainer.StepResult s = trainStep();
                tokensSeen += s.inputTokens();
                if (Double.isNaN(first)) first = s.loss();
                last = s.loss();
                window = window.add(s.loss(), s.gradNorm(), s.targetTokens(), s.correct(), s.skipped());
                if (s.skipped()) log.printf("%nstep %d: fp16 gradients overflowed; update skipped, loss scale now %.0f%n", step, setup.trainer().scaler().scale());
                bar.stepTo(step);
                bar.setExtraMessage(String.format("loss %.4f  %.0f tok/s", s.loss(), (tokensSeen - start.tokensSeen()) / ((System.nanoTime() - started) / 1e9)));
                if (step % t.logEvery() == 0 || step == total) logScalars(events, s);
                // an interrupted thread (a notebook's interrupt button) stops like Ctrl-C; the flag is cleared so the
                // checkpoint's file channels are not closed by it
                if (Thread.interrupted()) stop.set(true);
                boolean interrupted = stop.get() && step < total; // save at once; the eval can wait for the resume
                if (!interrupted && hasEvalData() && isEvalStep(loaded, step, total)) evaluate(events);
                stoppedEarly = best.patienceRunOut(t.earlyStoppingPatience()) && step < total;
                if ((t.saveEvery() > 0 && step % t.saveEvery() == 0) || step == total || interrupted || stoppedEarly) {
                    saveCheckpoint(step == total ? "end" : stoppedEarly ? TrainerState.EARLY_STOP : interrupted ? "interrupted" : "save_every");
                }
                if (interrupted || stoppedEarly) break; // a stop request ends the run after the step it arrived in
            }
            if (step == total || stoppedEarly) TrainingRun.CrashTesting.maybeHaltBeforeTheEnd();
            events.hparamsSessionEnd(step < total && !stoppedEarly ? EventWriter.HparamsStatus.RUNNING : EventWriter.HparamsStatus.SUCCESS,
                    System.currentTimeMillis() / 1000.0, step);
        } catch (RuntimeException | IOException e) {
            if (!(e instanceof TrainingRun.TrainingFailedException)) {
                status.progress(step, last, bestEval, best).end(RunStatus.Status.FAILED, String.valueOf(e.getMessage())).write(run.dir());
            }
            throw e;
        }
        return finish(started);
    }

    /** A fresh run logs its recipe and hparams; a resumed one a SessionLog START (TensorBoard drops its older points from there). */
    private void beginSession(EventWriter events) throws IOException {
        if (start.step() > 0) {
            events.sessionLog(start.step() + 1, EventWriter.SessionStatus.START); // the resumed session begins at startStep + 1
        } else {
            events.text("recipe", 0, "    " + recipeYaml.replace("\n", "\n    ")); // indented: a markdown code block
            events.hparamsSessionStart(hparams(), System.currentTimeMillis() / 1000.0);
        }
    }

    /** One optimizer step; a non-finite loss or gradient ends the run with a message that says what to do. */
    private Trainer.StepResult trainStep() throws IOException {
        // dropout draws are a pure function of (seed, step): reruns and resumed runs see the same masks
        Engine.getEngine("PyTorch").setRandomSeed(t.seed() * 1_000_003 + step);
        try {
            return setup.trainer().step(setup.plan().microBatches(step), setup.schedule().lrForStep(step));
        } catch (Trainer.NonFiniteException e) {
            String why = "step " + step + ": " + e.getMessage()
                    + " is not finite; lower training.lr or check the data. Checkpoints saved so far are kept in " + run.checkpointsDir();
            status.end(RunStatus.Status.FAILED, why).write(run.dir());
            throw new TrainingRun.TrainingFailedException(why);
        }
    }

    /** The averages since the last log line, as TRL logs them. */
    private void logScalars(EventWriter events, Trainer.StepResult s) throws IOException {
        events.scalar("train/loss", step, window.loss());
        events.scalar("train/grad_norm", step, window.meanGradNorm());
        events.scalar("train/learning_rate", step, s.lr());
        events.scalar("train/mean_token_accuracy", step, window.accuracy());
        events.scalar("train/epoch", step, setup.plan().epochAt(step));
        events.scalar("train/num_tokens", step, tokensSeen);
        if (setup.trainer().scaler() != null) events.scalar("train/loss_scale", step, setup.trainer().scaler().scale());
        window = LogWindow.EMPTY;
    }

    /** Evaluations happen every eval.every steps and at the end. */
    static boolean isEvalStep(LoadedRecipe loaded, int step, int total) {
        int every = loaded.recipe().eval().every(loaded.recipe().training());
        return (every > 0 && step % every == 0) || step == total;
    }

    private boolean hasEvalData() {
        return !setup.data().eval().isEmpty();
    }

    /**
     * Teacher-forced loss over the eval split, and the generated answers' scores (eval/exact_match, eval/token_f1,
     * eval/rouge_l, eval/think_tokens for reasoning models) with a TEXT summary of a few answers beside the curves.
     * Step 0 is the base model's baseline, not a candidate for the best eval loss.
     */
    private void evaluate(EventWriter events) throws IOException {
        List<Recipe.Metric> metrics = loaded.recipe().eval().metricList();
        java.util.Map<String, Double> values = new java.util.HashMap<>();
        StringBuilder line = new StringBuilder();
        if (metrics.contains(Recipe.Metric.LOSS) || metrics.contains(Recipe.Metric.PERPLEXITY)) {
            LossEval.Result e = setup.trainer().evaluate(setup.data().eval(), t.microBatchSize());
            values.put(Recipe.Metric.LOSS.tag(), e.loss());
            values.put(Recipe.Metric.PERPLEXITY.tag(), e.perplexity());
            if (metrics.contains(Recipe.Metric.LOSS)) {
                events.scalar("eval/loss", step, e.loss());
                line.append(String.format(", loss %.4f", e.loss()));
            }
            if (metrics.contains(Recipe.Metric.PERPLEXITY)) {
                events.scalar("eval/perplexity", step, e.perplexity());
                line.append(String.format(", perplexity %.2f", e.perplexity()));
            }
            events.scalar("eval/mean_token_accuracy", step, e.accuracy());
            if (step > 0 && (bestEval == null || e.loss() < bestEval)) bestEval = e.loss();
        }
        TrainingSetup.Evaluation evaluation = setup.evaluation();
        if (evaluation.generation() != null) {
            GenerationEval.Report r = evaluation.generation().run(setup.decoder(), setup.model().manager(), evaluation.questions());
            for (Recipe.Metric m : metrics) {
                if (!m.generated()) continue;
                double value = switch (m) {
                    case EXACT_MATCH -> r.exactMatch();
                    case TOKEN_F1 -> r.tokenF1();
                    default -> r.rougeL();
                };
                events.scalar(m.tag(), step, value);
                values.put(m.tag(), value);
                line.append(String.format(", %s %.3f", m.key(), value));
            }
            if (r.thinkTokens() != null) {
                events.scalar("eval/think_tokens", step, r.thinkTokens());
                line.append(String.format(", think_tokens %.0f", r.thinkTokens()));
            }
            events.text("eval/samples", step, GenerationEval.samplesMarkdown(r, SAMPLE_ROWS));
            line.append(String.format(" (%d answers in %.1f s)", r.answers().size(), r.seconds()));
        }
        log.printf("%neval     step %d%s: %s%n", step, step == 0 ? " (base model)" : "", line.length() > 2 ? line.substring(2) : "");
        Double value = values.get(t.metricForBest());
        if (step > 0 && value != null) updateBest(value);
    }

    /** A better training.metric_for_best puts this step's adapter into best/ (never rotated out); a worse one counts toward early stopping. */
    private void updateBest(double value) throws IOException {
        best = best.after(step, value);
        if (best.setAt(step)) {
            run.saveBest(best, dir -> setup.trained().write(dir));
        } else if (t.earlyStoppingPatience() > 0) {
            log.printf("best     %s; %d of %d evaluations without improvement%n", best.describe(), best.evalsWithoutImprovement(),
                    t.earlyStoppingPatience());
        }
    }

    /**
     * checkpoints/step-N (adapter, optimizer moments, recipe, and trainer_state.json last), then run.json. A failed write
     * (disk full, permissions) ends the run with what happened and where it can resume; the previous checkpoint stays whole.
     */
    private void saveCheckpoint(String reason) throws IOException {
        TrainerState state = new TrainerState(step, total, tokensSeen, t.seed(), RecipeDiff.sha256(recipeYaml), start.dataSha256(), reason, last,
                Instant.now().toString(), window, best, null);
        try {
            run.saveCheckpoint(step, t.keepCheckpoints(), dir -> writeCheckpoint(state, dir));
        } catch (IOException e) {
            String previous = run.latestCheckpoint(p -> true).map(p -> p.getFileName().toString()).orElse("none");
            String why = e.getMessage() + " while writing checkpoint step-" + step + "; the last complete checkpoint is " + previous
                    + "; free space (or fix permissions) and run ./workbench resume " + run.dir();
            try {
                status.end(RunStatus.Status.FAILED, why).write(run.dir()); // its progress stays that of the last complete checkpoint
            } catch (IOException ignored) {
                // the same disk: run.json keeps its last state, the message below still reaches the user
            }
            throw new TrainingRun.TrainingFailedException(why);
        }
        status = status.progress(step, last, bestEval, best);
        status.write(run.dir());
    }

    private void writeCheckpoint(TrainerState state, Path dir) throws IOException {
        setup.trained().write(dir);
        TrainingRun.CrashTesting.maybeFailWrite(state.globalStep(), dir);
        var scaler = setup.trainer().scaler();
        setup.optimizer().writeState(dir.resolve(RunDirectory.OPTIMIZER), scaler == null ? Map.of() : scaler.state());
        AtomicFiles.writeString(dir.resolve(RunDirectory.RECIPE), recipeYaml);
        TrainingRun.CrashTesting.maybeHalt(state.globalStep());
        state.withFilesOf(dir).write(dir); // last: it vouches for the files before it
    }

    /** The end of a run killed after its last checkpoint: its final adapter, run.json and the hparams session end. */
    TrainingRun.Outcome completeEnd(boolean early, double lastLoss) throws IOException {
        stoppedEarly = early;
        last = lastLoss;
        status = startStatus();
        bestEval = status.bestEvalLoss();
        try (EventWriter events = EventWriter.create(run.dir())) {
            events.hparamsSessionEnd(EventWriter.HparamsStatus.SUCCESS, System.currentTimeMillis() / 1000.0, step);
        }
        return finish(System.nanoTime());
    }

    /** The adapter into the run directory, run.json's end, and the summary lines. */
    private TrainingRun.Outcome finish(long started) throws IOException {
        boolean interrupted = step < total && !stoppedEarly;
        boolean bestIsFinal = !interrupted && t.finalAdapter() == Recipe.FinalAdapter.BEST && best.value() != null && Files.isDirectory(run.bestDir());
        TrainedWeights trained = setup.trained();
        Path finalDir = trained.finalDir(run.dir());
        if (bestIsFinal) {
            Files.createDirectories(finalDir);
            for (String file : trained.files()) {
                AtomicFiles.write(finalDir.resolve(file), out -> Files.copy(run.bestDir().resolve(file), out));
            }
        } else {
            trained.write(finalDir);
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        int done = step - start.step();
        String why = stoppedEarly ? String.format("early stopping at step %d: %s did not improve for %d evaluations (best: %s)", step,
                t.metricForBest(), t.earlyStoppingPatience(), best.describe()) : null;
        status.progress(step, last, bestEval, best).end(interrupted ? RunStatus.Status.INTERRUPTED : RunStatus.Status.FINISHED, why).write(run.dir());
        if (why != null) log.printf("%n%s%n", why);
        log.printf("%s after %d/%d steps in %.1f s (%.2f steps/s, %.0f tok/s); loss %.4f -> %.4f%n", interrupted ? "interrupted" : "finished",
                step, total, seconds, done / seconds, (tokensSeen - start.tokensSeen()) / seconds, first, last);
        log.printf("%s  %s%s%n", trained instanceof TrainedWeights.Full ? "model   " : "adapter", trained.finalFile(run.dir()),
                bestIsFinal ? " (the best: " + best.describe() + "; training.final_adapter: last keeps the last step's)" : "");
        if (interrupted) log.printf("resume   ./workbench resume %s%n", run.dir());
        log.printf("events   tensorboard --logdir %s%n", run.dir().getParent());
        return new TrainingRun.Outcome(run.dir(), step, total, first, last, interrupted, stoppedEarly);
    }

    /** run.json of a new run, or of a resumed one set back to running under this process. */
    private RunStatus startStatus() throws IOException {
        Recipe r = loaded.recipe();
        long pid = ProcessHandle.current().pid();
        RunStatus s = RunStatus.read(run.dir())
                .map(old -> new RunStatus(RunStatus.Status.RUNNING, old.started(), null, start.step(), total, old.finalTrainLoss(),
                        old.bestEvalLoss(), old.baseModel(), old.quantization(), old.r(), old.lr(), pid, null, best))
                .orElseGet(() -> new RunStatus(RunStatus.Status.RUNNING, Instant.now().toString(), null, start.step(), total, null,
                        null, setup.modelDir().toString(), r.quantization().type().name().toLowerCase(), r.lora().r(), r.training().lr(), pid, null,
                        best));
        s.write(run.dir());
        return s;
    }

    /** The hyper-parameters TensorBoard's HPARAMS tab lists for this run. */
    private Map<String, Object> hparams() {
        Recipe r = loaded.recipe();
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("model", setup.modelDir().getFileName().toString());
        h.put("quantization", r.quantization().type().name().toLowerCase());
        h.put("quantization.compute_dtype", r.quantization().computeDtype().name().toLowerCase());
        h.put("device", ComputeDevice.name(setup.model().manager().getDevice()));
        h.put("training.method", r.training().method().name().toLowerCase());
        if (setup.adapter() != null) {
            h.put("lora.r", r.lora().r());
            h.put("lora.alpha", r.lora().alpha());
            h.put("lora.dropout", r.lora().dropout());
            h.put("lora.target_modules", String.join(",", setup.adapter().settings().targetModules()));
            h.put("lora.use_rslora", r.lora().useRslora());
        }
        h.put("dataset.max_seq_len", r.dataset().maxSeqLen());
        h.put("training.lr", r.training().lr());
        h.put("training.schedule", r.training().schedule().name().toLowerCase());
        h.put("training.warmup_steps", setup.schedule().warmupSteps());
        h.put("training.steps", total);
        h.put("training.micro_batch_size", r.training().microBatchSize());
        h.put("training.grad_accum", r.training().gradAccum());
        h.put("training.weight_decay", r.training().weightDecay());
        h.put("training.seed", r.training().seed());
        return h;
    }
}
