package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.train.TrainingRun;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "train", mixinStandardHelpOptions = true, description = "Train a LoRA adapter as a recipe describes.")
final class TrainCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "RECIPE", description = "recipe YAML file")
    Path recipe;

    @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "override a recipe field, e.g. --set training.max_steps=20")
    List<String> overrides = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        LoadedRecipe loaded = RecipeLoader.load(recipe, overrides);
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch finished = new CountDownLatch(1);
        // Ctrl-C: finish the current step, save the adapter, then let the JVM exit
        Thread hook = new Thread(() -> {
            if (finished.getCount() == 0) return;
            stop.set(true);
            System.err.println("\nstopping after the current step and saving the adapter...");
            try {
                finished.await(120, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            TrainingRun.Outcome outcome = TrainingRun.execute(loaded, stop, System.out);
            return outcome.interrupted() ? 130 : 0;
        } finally {
            finished.countDown();
        }
    }
}
