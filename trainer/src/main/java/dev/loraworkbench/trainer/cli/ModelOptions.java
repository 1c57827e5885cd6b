package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.loader.AdapterSource;
import dev.loraworkbench.trainer.loader.LoadedModel;
import dev.loraworkbench.trainer.loader.ModelLoader;
import dev.loraworkbench.trainer.loader.ModelSpec;
import dev.loraworkbench.trainer.quant.Codebook;
import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.runs.RunDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import picocli.CommandLine.Option;

/** --model / --adapter / --quantization, shared by the commands that run a forward pass (logits, generate, chat). */
final class ModelOptions {
    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face checkpoint directory (default: the base model of the run given as --adapter)")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT LoRA adapter directory: a run (runs/<name>), one of its checkpoints, or an exported adapter")
    Path adapter;

    // quantization, compute dtype and device default to the run's own when --adapter is a run, else to none / fp32 / auto
    @Option(names = "--quantization", description = "none | nf4 | fp4: quantize the decoder projections on load (default: the run's, else none)")
    String quantization;

    @Option(names = "--double-quant", description = "with nf4/fp4: also quantize the block scales (8-bit, blocks of 256)")
    boolean doubleQuant;

    @Option(names = "--block-size", defaultValue = "64", description = "elements per 4-bit block (default ${DEFAULT-VALUE})")
    int blockSize;

    @Option(names = "--chat-template", paramLabel = "chatml|FILE", description = "chat template instead of the model's (default: the run's model.chat_template when --adapter is a run, else tokenizer_config.json's)")
    String chatTemplate;

    @Option(names = "--device", description = "auto | cpu | cuda | cuda:N (default: the run's, else auto)")
    String device;

    @Option(names = "--compute-dtype", description = "fp32 | fp16 | bf16 for the projections' matmuls (default: the run's, else fp32)")
    String computeDtype;

    private Optional<LoadedRecipe> runRecipe;

    /** The recipe of the run given as --adapter (a run or one of its checkpoints), if it is one; read once. */
    Optional<LoadedRecipe> runRecipe() {
        if (runRecipe == null) runRecipe = adapter == null ? Optional.empty() : RunDirectory.recipeOf(adapter);
        return runRecipe;
    }

    Recipe.ComputeDtype computeDtype() {
        if (computeDtype == null) return runRecipe().map(r -> r.recipe().quantization().computeDtype()).orElse(Recipe.ComputeDtype.FP32);
        try {
            return Recipe.ComputeDtype.valueOf(computeDtype.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new WorkbenchCli.UserInputException("--compute-dtype " + computeDtype + ": expected fp32, fp16 or bf16");
        }
    }

    String device() {
        return device != null ? device : runRecipe().map(r -> r.recipe().device()).orElse("auto");
    }

    /** The base model: --model, or the model of the run whose adapter was given. */
    Path modelDir() {
        if (adapter != null && !Files.isDirectory(adapter)) {
            throw new WorkbenchCli.UserInputException(adapter + " does not exist; expected a run (runs/<name>), one of its checkpoints or a PEFT adapter directory");
        }
        if (model != null) return model;
        if (fullModel().isPresent()) return fullModel().get();
        if (runRecipe().isPresent()) return runRecipe().get().modelDir();
        throw new WorkbenchCli.UserInputException("--model DIR is required (or pass a run directory as --adapter, whose recipe names the base model)");
    }

    /**
     * The model a full-parameter run trained, when --adapter names such a run (its model/) or one of its checkpoints
     * (a model directory itself): that model is loaded, with no adapter on it.
     */
    Optional<Path> fullModel() {
        if (adapter == null) return Optional.empty();
        for (Path dir : new Path[] {adapter, adapter.resolve(RunDirectory.MODEL_DIR)}) {
            if (Files.isRegularFile(dir.resolve(RunDirectory.MODEL_WEIGHTS)) && Files.isRegularFile(dir.resolve("config.json"))) return Optional.of(dir);
        }
        return Optional.empty();
    }

    /** Jinja source of the chat template to use, or null for the model's own. */
    String chatTemplateSource() {
        if (chatTemplate != null) {
            if (chatTemplate.equalsIgnoreCase("chatml")) return dev.loraworkbench.datasets.ChatTemplate.CHATML;
            try {
                return Files.readString(Path.of(chatTemplate));
            } catch (IOException e) {
                throw new WorkbenchCli.UserInputException("--chat-template " + chatTemplate + ": cannot read it; expected chatml or a Jinja template file");
            }
        }
        return runRecipe().map(LoadedRecipe::chatTemplateSource).orElse(null); // as the run trained
    }

    /** --quantization, else the run's (a 32B run trained on nf4 would not fit in memory loaded in fp32), else none. */
    Quantization quantization() {
        if (quantization != null) return quantization(quantization, blockSize, doubleQuant);
        return runRecipe().map(r -> r.recipe().quantization().forLoading()).orElse(null);
    }

    /** A --quantization value (none | nf4 | fp4) as the load-time quantization, null for none. */
    static Quantization quantization(String type, int blockSize, boolean doubleQuant) {
        return switch (type.toLowerCase(Locale.ROOT)) {
            case "none" -> null;
            case "nf4" -> new Quantization(Codebook.NF4, blockSize, doubleQuant);
            case "fp4" -> new Quantization(Codebook.FP4, blockSize, doubleQuant);
            default -> throw new WorkbenchCli.UserInputException("--quantization " + type + ": expected none, nf4 or fp4");
        };
    }

    private String template;

    /** The model as these options describe it; the chat template is resolved first (a bad --chat-template fails in seconds). */
    LoadedModel open() {
        Path dir = modelDir();
        template = chatTemplateSource();
        AdapterSource source = fullModel().isPresent() ? new AdapterSource.None() : AdapterSource.saved(adapter);
        return ModelLoader.load(new ModelSpec(dir, quantization(), computeDtype(), device(), source, 0), System.err);
    }

    /** The model's tokenizer with the chat template these options chose (call after {@link #open}). */
    TokenizerFiles tokenizer(LoadedModel loaded) {
        return TokenizerFiles.load(loaded.dir(), template);
    }
}
