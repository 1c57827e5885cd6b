package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.model.TinyModels;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "init-model", mixinStandardHelpOptions = true,
        description = "Write a small random-weight Hugging Face checkpoint (config, BF16 safetensors, tokenizer, chat template).")
final class InitModelCommand implements Callable<Integer> {
    @Option(names = "--preset", required = true, description = "tiny-qwen2 (2.3 M params, the quickstart's), small-qwen2 (~135 M, for measuring) or qwen2-32b-layer (one 32B-shaped decoder layer, for load benchmarks)")
    String preset;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "directory to create (must not exist or be empty)")
    Path out;

    @Option(names = "--layers", defaultValue = "0", description = "decoder layers instead of the preset's, e.g. --preset qwen2-32b-layer --layers 4")
    int layers;

    @Option(names = "--seed", defaultValue = "1234", description = "seed for the random weights (default ${DEFAULT-VALUE})")
    long seed;

    @Override
    public Integer call() throws Exception {
        if (!TinyModels.PRESET_NAMES.contains(preset)) {
            throw new WorkbenchCli.UserInputException("--preset " + preset + ": expected one of " + new java.util.TreeSet<>(TinyModels.PRESET_NAMES));
        }
        if (layers < 0) throw new WorkbenchCli.UserInputException("--layers " + layers + ": expected a positive number (or 0 for the preset's)");
        TinyModels.create(preset, out, seed, layers);
        System.out.println("wrote " + preset + " checkpoint to " + out);
        return 0;
    }
}
