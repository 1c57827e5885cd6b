package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "recipe", mixinStandardHelpOptions = true, description = "Work with recipes.", subcommands = RecipeCommand.Check.class)
final class RecipeCommand {

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Validate a recipe and print it with every default filled in.")
    static final class Check implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "FILE")
        Path file;

        @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "override a recipe field")
        List<String> overrides = new ArrayList<>();

        @Option(names = "--quiet", description = "print nothing when the recipe is valid")
        boolean quiet;

        @Override
        public Integer call() {
            LoadedRecipe loaded = RecipeLoader.load(file, overrides);
            if (!quiet) {
                System.out.println("# " + file + ": valid; resolved with defaults:");
                System.out.print(loaded.resolvedYaml());
            }
            return 0;
        }
    }
}
