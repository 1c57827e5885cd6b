package dev.loraworkbench.trainer.train;

import ai.djl.engine.Engine;
import dev.loraworkbench.trainer.events.EventWriter;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.runs.RunDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A whole training run from a recipe: prepare the model and data, loop over optimizer steps, write
 * TensorBoard events, evaluate and save the adapter. {@code stop} (set on Ctrl-C) ends the loop after
 * the current step; the adapter is saved either way.
 */
public final class TrainingRun {
    /** How the run ended and where its outputs are. */
    public record Outcome(Path runDir, int steps, int plannedSteps, double firstLoss, double lastLoss, boolean interrupted) {}

    private TrainingRun() {}

    public static Outcome execute(LoadedRecipe loaded, AtomicBoolean stop, PrintStream log) throws IOException {
        Recipe.TrainingSection t = loaded.recipe().training();
        try (TrainingSetup setup = TrainingSetup.open(loaded, log)) {
            TrainingData data = setup.data();
            Trainer trainer = setup.trainer();
            StepPlan plan = setup.plan();
            LrSchedule schedule = setup.schedule();
            LoraAdapter lora = setup.decoder().lora();
            String baseModel = setup.modelDir().toString();
            int total = plan.totalSteps();
            RunDirectory run = RunDirectory.create(loaded);
            log.printf("run      %s%n", run.dir());
            setup.describe(loaded, log);

            double first = Double.NaN;
            double last = Double.NaN;
            int step = 0;
            long tokensSeen = 0;
            Window window = new Window();
            long started = System.nanoTime();
            try (EventWriter events = EventWriter.create(run.dir());
                 ProgressBar bar = progressBar(total)) {
                while (step < total && !stop.get()) {
                    step++;
                    // dropout draws are a pure function of (seed, step): reruns and resumed runs see the same masks
                    Engine.getEngine("PyTorch").setRandomSeed(t.seed() * 1_000_003 + step);
                    Trainer.StepResult s;
                    try {
                        s = trainer.step(plan.microBatches(step), schedule.lrForStep(step));
                    } catch (Trainer.NonFiniteException e) {
                        throw new TrainingFailedException("step " + step + ": " + e.getMessage()
                                + " is not finite; lower training.lr or check the data. Checkpoints saved so far are kept in " + run.dir());
                    }
                    tokensSeen += s.inputTokens();
                    if (Double.isNaN(first)) first = s.loss();
                    last = s.loss();
                    window.add(s);
                    double seconds = (System.nanoTime() - started) / 1e9;
                    bar.stepTo(step);
                    bar.setExtraMessage(String.format("loss %.4f  %.0f tok/s", s.loss(), tokensSeen / seconds));
                    if (step % t.logEvery() == 0 || step == total) {
                        events.scalar("train/loss", step, window.loss());
                        events.scalar("train/grad_norm", step, window.gradNorm());
                        events.scalar("train/learning_rate", step, s.lr());
                        events.scalar("train/mean_token_accuracy", step, window.accuracy());
                        events.scalar("train/epoch", step, plan.epochAt(step));
                        events.scalar("train/num_tokens", step, tokensSeen);
                        window = new Window();
                    }
                    boolean evalNow = !data.eval().isEmpty() && ((t.evalEvery() > 0 && step % t.evalEvery() == 0) || step == total);
                    if (evalNow) {
                        Trainer.EvalResult e = trainer.evaluate(data.eval(), t.microBatchSize());
                        events.scalar("eval/loss", step, e.loss());
                        events.scalar("eval/mean_token_accuracy", step, e.accuracy());
                    }
                    if (t.saveEvery() > 0 && step % t.saveEvery() == 0 && step < total) {
                        run.saveCheckpoint(step, dir -> PeftFormat.write(lora, dir, baseModel));
                    }
                }
                if (stop.get() && step < total && !data.eval().isEmpty()) {
                    Trainer.EvalResult e = trainer.evaluate(data.eval(), t.microBatchSize());
                    events.scalar("eval/loss", step, e.loss());
                    events.scalar("eval/mean_token_accuracy", step, e.accuracy());
                }
            }
            PeftFormat.write(lora, run.dir(), baseModel);
            double seconds = (System.nanoTime() - started) / 1e9;
            log.printf("%s after %d/%d steps in %.1f s (%.2f steps/s, %.0f tok/s); loss %.4f -> %.4f%n",
                    stop.get() && step < total ? "interrupted" : "finished", step, total, seconds, step / seconds, tokensSeen / seconds, first, last);
            log.printf("adapter  %s%n", run.dir().resolve(PeftFormat.WEIGHTS));
            log.printf("events   tensorboard --logdir %s%n", run.dir().getParent());
            return new Outcome(run.dir(), step, total, first, last, stop.get() && step < total);
        }
    }

    private static ProgressBar progressBar(int total) {
        boolean terminal = System.console() != null;
        return new ProgressBarBuilder()
                .setTaskName("train")
                .setInitialMax(total)
                .setUnit(" steps", 1)
                .setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(terminal ? 250 : 10_000)
                .setConsumer(terminal ? new ConsoleProgressBarConsumer(System.err) : new DelegatingProgressBarConsumer(System.err::println))
                .build();
    }

    /** Averages over the steps since the last log line, as TRL logs them. */
    private static final class Window {
        private double lossTimesTokens;
        private double gradNorm;
        private long tokens;
        private long correct;
        private int steps;

        void add(Trainer.StepResult s) {
            lossTimesTokens += s.loss() * s.targetTokens();
            tokens += s.targetTokens();
            correct += s.correct();
            gradNorm += s.gradNorm();
            steps++;
        }

        double loss() { return lossTimesTokens / Math.max(1, tokens); }

        double accuracy() { return (double) correct / Math.max(1, tokens); }

        double gradNorm() { return gradNorm / Math.max(1, steps); }
    }

    /** A run that cannot go on (e.g. NaN loss); the message says what to do. */
    public static final class TrainingFailedException extends RuntimeException {
        public TrainingFailedException(String message) { super(message); }
    }

}
