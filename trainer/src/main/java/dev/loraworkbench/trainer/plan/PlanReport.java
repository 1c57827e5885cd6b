package dev.loraworkbench.trainer.plan;

import dev.loraworkbench.datasets.UserError;
import dev.loraworkbench.trainer.io.ByteSizes;
import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** A recipe's memory plan against a device's budget, from config.json alone: what `plan` prints. */
public record PlanReport(LoadedRecipe loaded, Path configFile, ModelConfig config, MemoryPlan plan, String device, long budget) {
    /** DGX Spark: 128 GB unified memory, about 100 GB of it usable for a model and its training state. */
    public static final long SPARK_USABLE = 100_000_000_000L;

    /** @param device spark, cpu (this machine's memory) or a size such as 64GB */
    public static PlanReport of(LoadedRecipe loaded, String device) throws IOException {
        Path config = loaded.modelDir().resolve("config.json");
        if (!Files.isRegularFile(config)) {
            String alt = loaded.recipe().model().config();
            if (alt == null) throw new UserError(config + " not found; set model.config to a copy of the model's config.json to plan without the weights");
            config = loaded.resolve(alt);
        }
        ModelConfig c = ModelConfig.load(config);
        Recipe r = loaded.recipe();
        return new PlanReport(loaded, config, c, MemoryPlan.of(c, r, allocator(device, r), r.dataset().maxSeqLen()), device, budget(device));
    }

    /** A Spark trains on its GPU (CUDA caching allocator); "cpu" on this machine (glibc); a size follows the recipe's device. */
    static MemoryPlan.Allocator allocator(String device, Recipe r) {
        String d = device.toLowerCase(Locale.ROOT);
        if (d.equals("spark")) return MemoryPlan.Allocator.CUDA_CACHING;
        if (d.equals("cpu")) return MemoryPlan.Allocator.GLIBC;
        return MemoryPlan.Allocator.of(r.device());
    }

    /** The longest sequence the recipe's other settings allow on this device. */
    public int maxSeqLen() {
        return MemoryPlan.maxSeqLen(config, loaded.recipe(), plan.allocator(), budget);
    }

    static long budget(String device) throws IOException {
        String d = device.toLowerCase(Locale.ROOT);
        if (d.equals("spark")) return SPARK_USABLE;
        if (d.equals("cpu")) {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
            throw new UserError("--device cpu: cannot read /proc/meminfo; give a size such as 64GB");
        }
        return ByteSizes.parse(device).orElseThrow(() -> new UserError("--device " + device + ": expected spark, cpu or a memory size such as 64GB"));
    }

    public void print(PrintStream out) {
        ModelConfig c = config;
        out.printf("plan for %s (%s, %d layers, hidden %d, vocab %d) from %s%n", loaded.file(), c.modelType(), c.numLayers(), c.hiddenSize(),
                c.vocabSize(), configFile);
        out.printf("device   %s: %s usable; tensors through %s%n", device, MemoryPlan.gb(budget), plan.allocator() == MemoryPlan.Allocator.GLIBC
                ? "glibc malloc (CPU)" : "the CUDA caching allocator (set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True)");
        out.printf("batch    %d x %d tokens (micro_batch_size x max_seq_len)%n%n", loaded.recipe().training().microBatchSize(), plan.seqLen());
        for (MemoryPlan.Item i : plan.items()) {
            String tag = i.recomputation() == null ? "" : i.recomputation() ? "  [with recomputation]" : "  [without]";
            out.printf("  %-40s %10s   %s%s%n", i.name(), MemoryPlan.gb(i.bytes()), i.detail(), tag);
        }
        out.println();
        verdict(out, "with layer-wise recomputation", plan.withRecomputation());
        verdict(out, "without recomputation        ", plan.withoutRecomputation());
        Recipe r = loaded.recipe();
        out.println("this recipe trains " + (r.training().recomputeLayers(r.quantization().type()) ? "with" : "without")
                + " recomputation (training.gradient_checkpointing; default: on for nf4/fp4)");
    }

    /** The line {@code plan --max-seq} adds. */
    public void printMaxSeq(PrintStream out) {
        int n = maxSeqLen();
        out.printf("max sequence length on %s: %d tokens%s%n", device, n, n == config.maxPositionEmbeddings()
                ? " (the model's max_position_embeddings; memory would allow more)" : n == 0 ? " (not even one token fits)" : "");
    }

    private void verdict(PrintStream out, String label, long need) {
        out.printf("%s %10s  %s%n", label, MemoryPlan.gb(need), need <= budget
                ? String.format("fits, %s (%.0f%%) to spare", MemoryPlan.gb(budget - need), 100.0 * (budget - need) / budget)
                : String.format("does NOT fit: %s over", MemoryPlan.gb(need - budget)));
    }
}
