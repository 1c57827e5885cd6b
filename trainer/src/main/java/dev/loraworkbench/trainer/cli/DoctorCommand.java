package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.device.Doctor;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = "What this machine can run: Java, DJL and libtorch (version, path, flavor), CUDA devices and their memory, "
                + "whether fp16 / bf16 compute works, and whether RECIPE's device and compute_dtype are usable (exit 2 if not).")
final class DoctorCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", paramLabel = "RECIPE") Path recipe;

    @Override
    public Integer call() {
        Doctor.describeMachine(System.out);
        if (recipe == null) return 0;
        return Doctor.checkRecipe(recipe, RecipeLoader.load(recipe, List.of()), System.out) ? 0 : WorkbenchCli.USER_ERROR;
    }
}
