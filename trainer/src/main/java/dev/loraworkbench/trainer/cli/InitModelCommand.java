package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.model.TinyModels;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "init-model", mixinStandardHelpOptions = true,
        description = "Write a small Hugging Face checkpoint (config, safetensors, tokenizer, chat template): the shipped pretrained tiny-qwen2, "
                + "or a preset with random weights.")
final class InitModelCommand implements Callable<Integer> {
    @Option(names = "--preset", required = true, description = "tiny-qwen2 (2.3 M params, the quickstart's: pretrained on this repository), tiny-qwen2-random (the same with random weights), small-qwen2 (~135 M, for measuring) or qwen2-32b-layer (one 32B-shaped decoder layer, for load benchmarks)")
    String preset;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "directory to create (must not exist or be empty)")
    Path out;

    @Option(names = "--layers", defaultValue = "0", description = "decoder layers instead of the preset's, e.g. --preset qwen2-32b-layer --layers 4")
    int layers;

    @Option(names = "--vocab", defaultValue = "0", description = "embedding rows instead of the tokenizer's, e.g. 152064 to measure memory at the R1 distills' real vocabulary")
    int vocab;

    @Option(names = "--seed", defaultValue = "1234", description = "seed for the random weights (default ${DEFAULT-VALUE})")
    long seed;

    @Override
    public Integer call() throws Exception {
        if (!TinyModels.PRESET_NAMES.contains(preset)) {
            throw new WorkbenchCli.UserInputException("--preset " + preset + ": expected one of " + new java.util.TreeSet<>(TinyModels.PRESET_NAMES));
        }
        if (layers > 0 && preset.equals(TinyModels.TINY_QWEN2)) {
            throw new WorkbenchCli.UserInputException("--layers: " + preset + " is shipped pretrained as it is; use " + TinyModels.TINY_QWEN2_RANDOM
                    + " for a random-weight model of another depth");
        }
        if (layers < 0) throw new WorkbenchCli.UserInputException("--layers " + layers + ": expected a positive number (or 0 for the preset's)");
        if (vocab < 0) throw new WorkbenchCli.UserInputException("--vocab " + vocab + ": expected a positive number (or 0 for the tokenizer's)");
        if (vocab > 0 && preset.equals(TinyModels.TINY_QWEN2)) throw new WorkbenchCli.UserInputException("--vocab: " + preset + " is shipped as it is");
        try {
            TinyModels.create(preset, out, seed, layers, vocab);
        } catch (IllegalArgumentException e) {
            throw new WorkbenchCli.UserInputException(e.getMessage());
        }
        System.out.println("wrote " + preset + " checkpoint to " + out);
        return 0;
    }
}
