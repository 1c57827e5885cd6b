package dev.loraworkbench.trainer.cli;

import ai.djl.ndarray.NDManager;
import dev.loraworkbench.trainer.export.GgufFileType;
import dev.loraworkbench.trainer.export.MergedExport;
import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.io.ByteSizes;
import dev.loraworkbench.trainer.io.DType;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.runs.RunDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import dev.loraworkbench.trainer.export.GgufExport;
import dev.loraworkbench.trainer.io.GgufWriter;

@Command(name = "export", mixinStandardHelpOptions = true, description = "Export a run's adapter, or the base model with the adapter merged in.",
        subcommands = {ExportCommand.Adapter.class, ExportCommand.Merged.class, ExportCommand.Gguf.class, ExportCommand.GgufAdapter.class})
final class ExportCommand {

    /** A run directory (its best adapter by default) or one of its checkpoints, with the recipe that names the base model. */
    record Source(Path adapterDir, Path baseModel, Quantization trainedOn) {
        static Source of(Path dir, boolean last) throws java.io.IOException {
            if (RunDirectory.hasWeights(dir) && !Files.isRegularFile(dir.resolve(PeftFormat.WEIGHTS)) || RunDirectory.trainedFullModel(dir)) {
                Path model = Files.isRegularFile(dir.resolve(RunDirectory.MODEL_WEIGHTS)) ? dir : dir.resolve(RunDirectory.MODEL_DIR);
                throw new WorkbenchCli.UserInputException(dir + " trained the full model, so there is no adapter to export or merge: " + model
                        + " is already a Hugging Face checkpoint (config.json, model.safetensors, tokenizer files) for transformers and vLLM, "
                        + "and a base model for a later recipe (model.path)");
            }
            var recipe = Files.isRegularFile(dir.resolve(PeftFormat.WEIGHTS)) ? RunDirectory.recipeOf(dir) : java.util.Optional.<LoadedRecipe>empty();
            if (recipe.isEmpty()) {
                throw new WorkbenchCli.UserInputException(dir + ": expected a run directory (runs/<name>) or a checkpoint "
                        + "(runs/<name>/checkpoints/step-N) with " + PeftFormat.WEIGHTS + " and " + RunDirectory.RECIPE);
            }
            var choice = RunDirectory.adapterToExport(dir, last);
            if (choice.note() != null) System.out.println(choice.note());
            return new Source(choice.dir(), recipe.get().modelDir(), recipe.get().recipe().quantization().forLoading());
        }
    }

    static void checkOut(Path out, boolean force) throws java.io.IOException {
        if (Files.exists(out) && !force && !AtomicFiles.isEmptyDirectory(out)) {
            throw new WorkbenchCli.UserInputException(out + " exists and is not empty; pass --force to replace it");
        }
    }

    @Command(name = "adapter", mixinStandardHelpOptions = true, description = "PEFT adapter directory (adapter_config.json + adapter_model.safetensors).")
    static final class Adapter implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "RUN_OR_CHECKPOINT") Path source;
        @Option(names = "--out", required = true, paramLabel = "DIR") Path out;
        @Option(names = "--force", description = "replace a non-empty output directory") boolean force;
        @Option(names = "--last", description = "a run's last step's adapter instead of its best") boolean last;

        @Override
        public Integer call() throws Exception {
            Source src = Source.of(source, last);
            checkOut(out, force);
            try (HfCheckpoint base = HfCheckpoint.open(src.baseModel()); NDManager m = NDManager.newBaseManager("PyTorch")) {
                LoraAdapter adapter = PeftFormat.read(src.adapterDir(), base.config(), m);
                AtomicFiles.publishDirectory(out, dir -> PeftFormat.write(adapter, dir, src.baseModel().toString()));
                System.out.printf("wrote PEFT adapter (%d modules, r=%d) to %s%n", adapter.pairs().size(), adapter.settings().r(), out);
            }
            return 0;
        }
    }

    @Command(name = "merged", mixinStandardHelpOptions = true,
            description = "Base model with LoRA merged into its original weights: sharded safetensors + index, config, tokenizer files.")
    static final class Merged implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "RUN_OR_CHECKPOINT") Path source;
        @Option(names = "--out", required = true, paramLabel = "DIR") Path out;
        @Option(names = "--dtype", defaultValue = "bf16", description = "bf16 | fp16 | fp32 (default ${DEFAULT-VALUE})") String dtype;
        @Option(names = "--shard-size", defaultValue = "5GB", description = "largest shard, e.g. 5GB, 500MB (default ${DEFAULT-VALUE})") String shardSize;
        @Option(names = "--force", description = "replace a non-empty output directory") boolean force;
        @Option(names = "--last", description = "a run's last step's adapter instead of its best") boolean last;
        @Option(names = "--base", defaultValue = "auto", description = "auto | dequantized | original: the projections the LoRA is added to. "
                + "auto: as the run trained (a 4-bit run's quantized-then-dequantized weights, so the merged model computes what the "
                + "trained one did), else as stored (default ${DEFAULT-VALUE})")
        String base;

        @Override
        public Integer call() throws Exception {
            Source src = Source.of(source, last);
            checkOut(out, force);
            var trainedOn = switch (base.toLowerCase(Locale.ROOT)) {
                case "auto", "dequantized" -> src.trainedOn();
                case "original" -> null;
                default -> throw new WorkbenchCli.UserInputException("--base " + base + ": expected auto, dequantized or original");
            };
            if (base.equalsIgnoreCase("dequantized") && trainedOn == null) {
                throw new WorkbenchCli.UserInputException("--base dequantized: " + source + " was trained on an unquantized base; use auto or original");
            }
            DType type = switch (dtype.toLowerCase(Locale.ROOT)) {
                case "bf16", "bfloat16" -> DType.BF16;
                case "fp16", "f16", "float16" -> DType.F16;
                case "fp32", "f32", "float32" -> DType.F32;
                default -> throw new WorkbenchCli.UserInputException("--dtype " + dtype + ": expected bf16, fp16 or fp32");
            };
            long t0 = System.nanoTime();
            if (trainedOn != null) System.out.printf("merging into the %s-dequantized base the adapter was trained on (--base original: as stored)%n",
                    trainedOn.name());
            var result = MergedExport.export(src.baseModel(), src.adapterDir(), out, type, shardBytes(), trainedOn, System.out);
            System.out.printf("merged %d modules into %s: %d shard(s), %.1f MB, %.1f s%n", result.mergedModules(), out, result.shards(),
                    result.bytes() / 1e6, (System.nanoTime() - t0) / 1e9);
            return 0;
        }

        private long shardBytes() {
            long bytes = ByteSizes.parse(shardSize).orElseThrow(
                    () -> new WorkbenchCli.UserInputException("--shard-size " + shardSize + ": expected a size such as 5GB or 500MB"));
            if (bytes <= 0) throw new WorkbenchCli.UserInputException("--shard-size " + shardSize + ": expected a size above 0, such as 5GB");
            return bytes;
        }
    }

    @Command(name = "gguf", mixinStandardHelpOptions = true,
            description = "One GGUF file for llama.cpp, Ollama and LM Studio: a run's base model with its LoRA merged in (as export merged "
                    + "merges it), or a Hugging Face model directory as it is.")
    static final class Gguf implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "RUN_CHECKPOINT_OR_MODEL") Path source;
        @Option(names = "--out", required = true, paramLabel = "FILE.gguf") Path out;
        @Option(names = "--type", defaultValue = "f16", description = "f16 | bf16 | f32 | q8_0 | q4_0 | q4_k_m: the 2-D weights' type (ggml's "
                + "reference quantizers; q4_k_m: llama-quantize's Q4_K_M mix of q4_k, q6_k and their fallbacks); norms and biases stay f32 "
                + "(default ${DEFAULT-VALUE})")
        String type;
        @Option(names = "--force", description = "replace an existing file") boolean force;
        @Option(names = "--last", description = "a run's last step's adapter instead of its best") boolean last;

        @Override
        public Integer call() throws Exception {
            GgufFileType fileType = fileType(type);
            checkOut(out, force);
            long t0 = System.nanoTime();
            boolean model = Files.isRegularFile(source.resolve("config.json")) && !Files.isRegularFile(source.resolve(PeftFormat.WEIGHTS));
            if (!model && RunDirectory.trainedFullModel(source)) { // a full-parameter run: its model/ is what it trained
                source = source.resolve(RunDirectory.MODEL_DIR);
                model = true;
            }
            Path modelDir;
            if (model) {
                modelDir = source;
                GgufExport.export(source, null, null, out, fileType, System.out);
            } else {
                Source src = Source.of(source, last);
                modelDir = src.baseModel();
                GgufExport.export(src.baseModel(), src.adapterDir(), src.trainedOn(), out, fileType, System.out);
            }
            Path modelfile = out.resolveSibling(out.getFileName() + ".Modelfile");
            AtomicFiles.writeString(modelfile, GgufExport.modelfile(modelDir, out));
            System.out.printf("in %.1f s; llama.cpp: llama-cli -m %s -cnv; Ollama: ollama create NAME -f %s%n", (System.nanoTime() - t0) / 1e9, out, modelfile);
            return 0;
        }

        static GgufFileType fileType(String type) {
            return switch (type.toLowerCase(Locale.ROOT)) {
                case "f16", "fp16" -> GgufFileType.F16;
                case "bf16" -> GgufFileType.BF16;
                case "f32", "fp32" -> GgufFileType.F32;
                case "q8_0" -> GgufFileType.Q8_0;
                case "q4_0" -> GgufFileType.Q4_0;
                case "q4_k_m" -> GgufFileType.Q4_K_M;
                default -> throw new WorkbenchCli.UserInputException("--type " + type + ": expected f16, bf16, f32, q8_0, q4_0 or q4_k_m");
            };
        }

        static void checkOut(Path out, boolean force) {
            if (Files.isDirectory(out)) throw new WorkbenchCli.UserInputException("--out " + out + " is a directory; give a file name such as model.gguf");
            if (Files.exists(out) && !force) throw new WorkbenchCli.UserInputException(out + " exists; pass --force to replace it");
        }
    }

    @Command(name = "gguf-adapter", mixinStandardHelpOptions = true,
            description = "A run's LoRA adapter as llama.cpp's LoRA GGUF, applied on the base model's GGUF (llama-cli -m base.gguf --lora adapter.gguf).")
    static final class GgufAdapter implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "RUN_OR_CHECKPOINT") Path source;
        @Option(names = "--out", required = true, paramLabel = "ADAPTER.gguf") Path out;
        @Option(names = "--type", defaultValue = "f32", description = "f32 | f16 | bf16 (default ${DEFAULT-VALUE}: an adapter is small)") String type;
        @Option(names = "--force", description = "replace an existing file") boolean force;
        @Option(names = "--last", description = "a run's last step's adapter instead of its best") boolean last;

        @Override
        public Integer call() throws Exception {
            GgufWriter.TensorType tensorType = Gguf.fileType(type).base;
            if (tensorType.quantized()) throw new WorkbenchCli.UserInputException("--type " + type + ": an adapter GGUF is f32, f16 or bf16");
            Gguf.checkOut(out, force);
            Source src = Source.of(source, last);
            if (src.trainedOn() != null) {
                System.out.println("note: this adapter was trained on a " + src.trainedOn().name() + " base; on an unquantized base GGUF it computes "
                        + "slightly differently than in training (export gguf merges it into the dequantized base instead)");
            }
            long t0 = System.nanoTime();
            GgufExport.exportAdapter(src.baseModel(), src.adapterDir(), out, tensorType, System.out);
            System.out.printf("in %.1f s; llama.cpp: llama-cli -m BASE.gguf --lora %s (BASE.gguf: ./workbench export gguf %s --out BASE.gguf)%n",
                    (System.nanoTime() - t0) / 1e9, out, src.baseModel());
            return 0;
        }
    }
}
