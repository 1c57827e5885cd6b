package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.runs.RunDirectory;
import dev.loraworkbench.trainer.train.TrainingRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "train", mixinStandardHelpOptions = true, description = "Train a LoRA adapter as a recipe describes.")
final class TrainCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "RECIPE", description = "recipe YAML file")
    Path recipe;

    @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "override a recipe field, e.g. --set training.max_steps=20")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--resume", description = "continue the run output.name from its newest checkpoint (a new run if it has none yet)")
    boolean resume;

    @Option(names = "--allow-recipe-change", description = "with --resume: continue even if the recipe differs from the checkpoint's")
    boolean allowRecipeChange;

    @Override
    public Integer call() throws Exception {
        LoadedRecipe loaded = RecipeLoader.load(recipe, overrides);
        if (!resume) return GracefulStop.run(stop -> TrainingRun.execute(loaded, stop, System.out));
        if (loaded.recipe().output().name() == null) {
            throw new WorkbenchCli.UserInputException("--resume needs a fixed run name: set output.name in " + recipe
                    + " (or --set output.name=NAME), or use ./workbench resume runs/<name>");
        }
        Path runDir = RunDirectory.dirFor(loaded);
        boolean hasRun = Files.isRegularFile(runDir.resolve(RunDirectory.RECIPE));
        return GracefulStop.run(stop -> hasRun
                ? TrainingRun.resume(loaded, runDir, allowRecipeChange, stop, System.out)
                : TrainingRun.execute(loaded, stop, System.out));
    }
}
