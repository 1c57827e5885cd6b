package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.bench.GemmCeiling;
import dev.loraworkbench.trainer.bench.LoadBench;
import dev.loraworkbench.trainer.bench.QuantBench;
import dev.loraworkbench.trainer.bench.TrainingBench;
import dev.loraworkbench.trainer.device.MallocSettings;
import dev.loraworkbench.trainer.plan.MemoryPlan;
import dev.loraworkbench.trainer.plan.PlanReport;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Measures, in one JVM: the fp32 GEMM ceiling of this libtorch, then LoRA training throughput for a recipe,
 * reported as steps/s, tokens/s and model FLOP/s as a fraction of that ceiling. Not a test: numbers for notes.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure the GEMM ceiling and training throughput of a recipe (steps/s, tokens/s, %% of GEMM FLOP/s).")
final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "RECIPE", arity = "0..1", description = "recipe to time (optional with --quantize-shape)")
    Path recipe;

    @Option(names = "--quantize-shape", paramLabel = "OUTxIN", description = "time NF4 quantize / dequantize / dequantize+linear on one weight of this shape, e.g. 27648x5120")
    String quantizeShape;

    @Option(names = "--load-model", paramLabel = "DIR", description = "time reading vs quantize-on-load of a checkpoint (e.g. init-model --preset qwen2-32b-layer), with memory")
    Path loadModel;

    @Option(names = "--quantization", defaultValue = "nf4", description = "with --load-model: none | nf4 | fp4 (default ${DEFAULT-VALUE}), double-quantized")
    String loadQuantization;

    @Option(names = "--tokens", defaultValue = "2048", description = "rows of the activation for --quantize-shape (default ${DEFAULT-VALUE})")
    int tokens;

    @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "override a recipe field")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--steps", defaultValue = "30", description = "timed optimizer steps (default ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--warmup", defaultValue = "3", description = "untimed steps first (default ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--gemm", defaultValue = "1024", description = "square GEMM size for the ceiling (default ${DEFAULT-VALUE})")
    int gemm;

    @Override
    public Integer call() throws Exception {
        if (loadModel != null) {
            LoadBench.run(loadModel, ModelOptions.quantization(loadQuantization, 64, true), System.out);
            return 0;
        }
        double ceiling = GemmCeiling.measure(gemm);
        if (quantizeShape != null) {
            System.out.printf("gemm     fp32 %dx%dx%d: %.1f GFLOP/s%n", gemm, gemm, gemm, ceiling / 1e9);
            QuantBench.run(quantizeShape, tokens, System.out);
            if (recipe == null) return 0;
        }
        if (recipe == null) throw new WorkbenchCli.UserInputException("give a RECIPE to time, or --quantize-shape");
        LoadedRecipe loaded = RecipeLoader.load(recipe, overrides);
        System.out.printf("gemm     fp32 %dx%dx%d: %.1f GFLOP/s (libtorch intra-op threads: %s)%n", gemm, gemm, gemm, ceiling / 1e9,
                ai.djl.pytorch.jni.JniUtils.getNumThreads());
        System.out.println("malloc   " + MallocSettings.describe());
        TrainingBench.Result r = TrainingBench.run(loaded, warmup, steps, System.out);
        // measured again after the steps: on a shared host the ceiling itself moves (147 vs 176 GFLOP/s a minute apart),
        // so the ratio is against the mean of the two and both are shown
        double after = GemmCeiling.measure(gemm);
        System.out.printf("gemm     again after the steps: %.1f GFLOP/s%n", after / 1e9);
        System.out.printf("train    %d steps: %.2f steps/s, %.0f tokens/s, %.2f GFLOP/s model = %.1f%% of the GEMM ceiling (mean of before and after)%n",
                steps, r.stepsPerSecond(), r.tokensPerSecond(), r.flopsPerSecond() / 1e9, 200 * r.flopsPerSecond() / (ceiling + after));
        System.out.printf("memory   peak RSS %.0f MB, RSS growth over the timed steps %.1f MB, JVM heap committed %.0f MB%n", r.peakRssMb(), r.rssGrowthMb(),
                Runtime.getRuntime().totalMemory() / 1e6);
        // the plan for this machine (glibc) against what the process held: heap + native, without the mapped checkpoint
        PlanReport plan = PlanReport.of(loaded, "cpu");
        long planned = plan.plan().forRecipe(loaded.recipe());
        double measured = r.peakAnonMb() * 1.048576e6;
        System.out.printf("plan     peak anonymous RSS %s measured, %s planned (cpu): plan/measured = %.2f%n",
                MemoryPlan.gb((long) measured), MemoryPlan.gb(planned), planned / measured);
        return 0;
    }
}
