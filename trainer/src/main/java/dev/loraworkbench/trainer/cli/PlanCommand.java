package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.plan.MemoryPlan;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Memory budget of a recipe before anything loads: base weights, LoRA + optimizer, activations, logits, headroom.")
final class PlanCommand implements Callable<Integer> {
    /** DGX Spark: 128 GB unified memory, about 100 GB of it usable for a model and its training state. */
    static final long SPARK_USABLE = 100_000_000_000L;

    @Parameters(index = "0", paramLabel = "RECIPE") Path recipe;
    @Option(names = "--device", defaultValue = "spark", description = "spark (100 GB usable), cpu (this machine's memory) or a size such as 64GB (default ${DEFAULT-VALUE})")
    String device;
    @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "override a recipe field") List<String> overrides = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        LoadedRecipe loaded = RecipeLoader.load(recipe, overrides);
        Path config = loaded.modelDir().resolve("config.json");
        if (!Files.isRegularFile(config)) {
            String alt = loaded.recipe().model().config();
            if (alt == null) {
                throw new WorkbenchCli.UserInputException(config + " not found; set model.config to a copy of the model's config.json to plan without the weights");
            }
            config = loaded.resolve(alt);
        }
        ModelConfig c = ModelConfig.load(config);
        MemoryPlan plan = MemoryPlan.of(c, loaded.recipe());
        long budget = budget();
        System.out.printf("plan for %s (%s, %d layers, hidden %d, vocab %d) from %s%n", loaded.file(), c.modelType(), c.numLayers(), c.hiddenSize(), c.vocabSize(), config);
        System.out.printf("device   %s: %s usable%n%n", device, MemoryPlan.gb(budget));
        for (MemoryPlan.Item i : plan.items()) {
            String tag = i.recomputation() == null ? "" : i.recomputation() ? "  [with recomputation]" : "  [without]";
            System.out.printf("  %-40s %10s   %s%s%n", i.name(), MemoryPlan.gb(i.bytes()), i.detail(), tag);
        }
        System.out.println();
        verdict("with layer-wise recomputation", plan.withRecomputation(), budget);
        verdict("without recomputation        ", plan.withoutRecomputation(), budget);
        var r = loaded.recipe();
        System.out.println("this recipe trains " + (r.training().recomputeLayers(r.quantization().type()) ? "with" : "without")
                + " recomputation (training.gradient_checkpointing; default: on for nf4/fp4)");
        return 0;
    }

    private static void verdict(String label, long need, long budget) {
        System.out.printf("%s %10s  %s%n", label, MemoryPlan.gb(need), need <= budget
                ? String.format("fits, %s (%.0f%%) to spare", MemoryPlan.gb(budget - need), 100.0 * (budget - need) / budget)
                : String.format("does NOT fit: %s over", MemoryPlan.gb(need - budget)));
    }

    private long budget() throws IOException {
        String d = device.toLowerCase(Locale.ROOT);
        if (d.equals("spark")) return SPARK_USABLE;
        if (d.equals("cpu")) {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
            throw new WorkbenchCli.UserInputException("--device cpu: cannot read /proc/meminfo; give a size such as 64GB");
        }
        return ExportCommand.Merged.parseSize(device);
    }
}
