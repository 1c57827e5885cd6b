package dev.loraworkbench.trainer.bench;

import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.train.StepPlan;
import dev.loraworkbench.trainer.train.Trainer;
import dev.loraworkbench.trainer.train.TrainingSetup;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Times optimizer steps of a recipe (no events, no run directory) and estimates the model FLOPs they did. */
public final class TrainingBench {
    /**
     * Throughput over the timed steps; FLOP/s counts padded positions, tokens/s only real ones. {@code peakAnonMb}: the
     * largest anonymous RSS (heap + native allocations, not the mapped checkpoint) sampled from loading to the end.
     */
    public record Result(double stepsPerSecond, double tokensPerSecond, double flopsPerSecond, double peakRssMb, double rssGrowthMb, double peakAnonMb) {}

    private TrainingBench() {}

    public static Result run(LoadedRecipe loaded, int warmup, int steps, PrintStream log) throws IOException {
        try (PeakSampler anon = new PeakSampler("RssAnon"); TrainingSetup setup = TrainingSetup.open(loaded, log)) {
            setup.describe(loaded, log);
            StepPlan plan = setup.plan();
            for (int s = 1; s <= warmup; s++) setup.trainer().step(plan.microBatches(s), setup.schedule().lrForStep(s));
            double rssBefore = rssMb("VmRSS");
            long tokens = 0;
            double flops = 0;
            long t0 = System.nanoTime();
            for (int s = warmup + 1; s <= warmup + steps; s++) {
                List<List<EncodedExample>> micro = plan.microBatches((s - 1) % plan.totalSteps() + 1);
                Trainer.StepResult r = setup.trainer().step(micro, setup.schedule().lrForStep(s));
                tokens += r.inputTokens();
                flops += stepFlops(setup.decoder().config(), setup.adapter(), micro);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            return new Result(steps / seconds, tokens / seconds, flops / seconds, rssMb("VmHWM"), rssMb("VmRSS") - rssBefore, anon.peakMb());
        }
    }

    /**
     * Matmul FLOPs of one LoRA training step: frozen projections and lm_head forward + input-gradient
     * (4 per weight per position), LoRA forward + both gradients (6), attention scores and values over
     * the padded length (forward 4·T·heads·dim, backward twice that). Full-parameter training ({@code lora} null):
     * 6 per weight per position, forward and both gradients.
     */
    static double stepFlops(ModelConfig c, LoraAdapter lora, List<List<EncodedExample>> microBatches) {
        double frozen = (double) c.vocabSize() * c.hiddenSize();
        for (Projection p : Projection.values()) frozen += (double) p.in(c) * p.out(c) * c.numLayers();
        double loraParams = lora == null ? 0 : lora.parameterCount();
        double perWeight = lora == null ? 6 : 4;
        double flops = 0;
        for (List<EncodedExample> batch : microBatches) {
            int seq = batch.stream().mapToInt(e -> e.ids().length).max().orElse(0);
            double positions = (double) batch.size() * seq;
            flops += positions * (perWeight * frozen + 6 * loraParams);
            flops += batch.size() * 12.0 * seq * seq * c.numHeads() * c.headDim() * c.numLayers();
        }
        return flops;
    }

    /**
     * The largest value of a /proc/self/status field, read every 2 ms by a daemon thread (the kernel keeps a peak only
     * for the whole RSS, VmHWM, which counts the memory-mapped checkpoint's pages too).
     */
    static final class PeakSampler implements AutoCloseable {
        private final Thread thread;
        private volatile boolean running = true;
        private volatile double peak;

        PeakSampler(String field) {
            thread = new Thread(() -> {
                while (running) {
                    peak = Math.max(peak, rssMb(field));
                    try {
                        Thread.sleep(2);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "peak-" + field);
            thread.setDaemon(true);
            thread.start();
        }

        double peakMb() { return peak; }

        @Override
        public void close() {
            running = false;
            thread.interrupt();
        }
    }

    /** A field of /proc/self/status (VmRSS, VmHWM, RssAnon...) in MiB, NaN where there is none. */
    public static double rssMb(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(field + ":")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
            }
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }
}
