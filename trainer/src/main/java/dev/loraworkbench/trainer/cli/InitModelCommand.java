package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.model.TinyModels;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "init-model", mixinStandardHelpOptions = true,
        description = "Write a small random-weight Hugging Face checkpoint (config, BF16 safetensors, tokenizer, chat template).")
final class InitModelCommand implements Callable<Integer> {
    @Option(names = "--preset", required = true, description = "preset name: ${COMPLETION-CANDIDATES}")
    Preset preset;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "directory to create (must not exist or be empty)")
    Path out;

    @Option(names = "--seed", defaultValue = "1234", description = "seed for the random weights (default ${DEFAULT-VALUE})")
    long seed;

    enum Preset {
        tiny_qwen2;

        @Override
        public String toString() { return name().replace('_', '-'); }
    }

    @Override
    public Integer call() throws Exception {
        TinyModels.create(preset.toString(), out, seed);
        System.out.println("wrote " + preset + " checkpoint to " + out);
        return 0;
    }
}
