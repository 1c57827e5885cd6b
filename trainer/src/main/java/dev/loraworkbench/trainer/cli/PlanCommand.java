package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.plan.PlanReport;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Memory budget of a recipe before anything loads: base weights, LoRA + optimizer, activations, logits, headroom.")
final class PlanCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "RECIPE") Path recipe;
    @Option(names = "--device", defaultValue = "spark", description = "spark (100 GB usable), cpu (this machine's memory) or a size such as 64GB (default ${DEFAULT-VALUE})")
    String device;
    @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "override a recipe field") List<String> overrides = new ArrayList<>();
    @Option(names = "--max-seq", description = "also find the longest sequence (micro-batch rows of that many tokens) that fits the device") boolean maxSeq;

    @Override
    public Integer call() throws Exception {
        PlanReport report = PlanReport.of(RecipeLoader.load(recipe, overrides), device);
        report.print(System.out);
        if (maxSeq) report.printMaxSeq(System.out);
        return 0;
    }
}
