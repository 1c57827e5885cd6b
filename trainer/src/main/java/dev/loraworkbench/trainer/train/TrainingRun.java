package dev.loraworkbench.trainer.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.events.EventWriter;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.model.TinyModels;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.runs.RunDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
        Recipe r = loaded.recipe();
        Recipe.TrainingSection t = r.training();
        Path modelDir = TinyModels.ensure(loaded.modelDir(), r.model().initPreset(), log);
        Engine engine = Engine.getEngine("PyTorch");
        engine.setRandomSeed(t.seed());

        try (TokenizerFiles tokenizer = TokenizerFiles.load(modelDir);
             HfCheckpoint ckpt = HfCheckpoint.open(modelDir);
             NDManager manager = NDManager.newBaseManager("PyTorch")) {
            TrainingData data = TrainingData.load(loaded, tokenizer);
            DecoderWeights weights = DecoderWeights.load(ckpt, manager);
            List<String> targets = r.lora().targetModules().equals(List.of("all-linear")) ? DecoderWeights.PROJECTIONS : r.lora().targetModules();
            var settings = new LoraAdapter.LoraSettings(r.lora().r(), r.lora().alpha(), r.lora().dropout(), targets, r.lora().useRslora());
            LoraAdapter lora = LoraAdapter.init(ckpt.config(), settings, manager, t.seed());
            Decoder decoder = new Decoder(ckpt.config(), weights, lora);
            AdamW optimizer = new AdamW(lora.parameters(), t.weightDecay(), manager);
            Trainer trainer = new Trainer(decoder, optimizer, manager, tokenizer.padId(), t.maxGradNorm());

            int total = StepPlan.totalSteps(t.epochs(), t.maxSteps(), data.train().size(), t.microBatchSize(), t.gradAccum());
            StepPlan plan = new StepPlan(data.train(), t.microBatchSize(), t.gradAccum(), t.seed(), total);
            LrSchedule schedule = new LrSchedule(t.lr(), t.schedule(), LrSchedule.warmupSteps(t.warmupSteps(), t.warmupRatio(), total), total);
            RunDirectory run = RunDirectory.create(loaded);

            long baseParams = weights.arrays().stream().mapToLong(a -> a.size()).sum();
            log.printf("run      %s%n", run.dir());
            log.printf("model    %s (%s, %d layers, hidden %d), %,d params; LoRA r=%d on %s: %,d trainable (%.2f%%)%n",
                    modelDir, ckpt.config().modelType(), ckpt.config().numLayers(), ckpt.config().hiddenSize(), baseParams,
                    settings.r(), String.join(",", targets), lora.parameterCount(), 100.0 * lora.parameterCount() / baseParams);
            log.printf("data     %d train / %d eval examples, %,d tokens per epoch%s%n", data.train().size(), data.eval().size(), data.trainTokens(),
                    (data.truncated() + data.dropped() > 0 ? String.format(", %d truncated, %d dropped (max_seq_len %d)", data.truncated(), data.dropped(), r.dataset().maxSeqLen()) : ""));
            log.printf("plan     %d steps (%d per epoch) of %d x %d examples, lr %.2e %s, warmup %d%n",
                    total, plan.stepsPerEpoch(), t.microBatchSize(), t.gradAccum(), t.lr(), t.schedule().name().toLowerCase(), schedule.warmupSteps());

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
                    Trainer.StepResult s;
                    try {
                        s = trainer.step(plan.microBatches(step), schedule.lrForStep(step));
                    } catch (Trainer.NonFiniteException e) {
                        throw new TrainingFailedException("step " + step + ": " + e.getMessage()
                                + " is not finite; lower training.lr or check the data. The last saved adapter is kept in " + run.dir());
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
                        run.saveCheckpoint(step, dir -> PeftFormat.write(lora, dir, modelDir.toString()));
                    }
                }
                if (stop.get() && step < total && !data.eval().isEmpty()) {
                    Trainer.EvalResult e = trainer.evaluate(data.eval(), t.microBatchSize());
                    events.scalar("eval/loss", step, e.loss());
                    events.scalar("eval/mean_token_accuracy", step, e.accuracy());
                }
            }
            PeftFormat.write(lora, run.dir(), modelDir.toString());
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
