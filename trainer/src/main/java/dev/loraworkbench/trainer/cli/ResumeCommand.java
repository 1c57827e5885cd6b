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

@Command(name = "resume", mixinStandardHelpOptions = true,
        description = "Continue a run from its newest complete checkpoint, with the recipe it was started with.")
final class ResumeCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "RUN_DIR", description = "runs/<name>")
    Path runDir;

    @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "change a recipe field (needs --allow-recipe-change)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--allow-recipe-change", description = "continue even though --set changes the recipe")
    boolean allowRecipeChange;

    @Override
    public Integer call() throws Exception {
        Path recipe = runDir.resolve(RunDirectory.RECIPE);
        if (!Files.isRegularFile(recipe)) {
            throw new WorkbenchCli.UserInputException(runDir + ": not a run directory (no " + RunDirectory.RECIPE + ")");
        }
        LoadedRecipe loaded = RecipeLoader.load(recipe, overrides);
        return GracefulStop.run(stop -> TrainingRun.resume(loaded, runDir, allowRecipeChange, stop, System.out));
    }
}
