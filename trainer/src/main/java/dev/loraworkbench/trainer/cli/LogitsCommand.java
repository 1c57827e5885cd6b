package dev.loraworkbench.trainer.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.model.Tensors;
import dev.loraworkbench.trainer.quant.Codebook;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "One fp32 forward pass over token ids; writes tensor 'logits' [T, vocab] (F32) to a safetensors file.")
final class LogitsCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face checkpoint directory")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT LoRA adapter directory")
    Path adapter;

    @Option(names = "--ids", required = true, split = ",", paramLabel = "ID", description = "comma-separated token ids")
    long[] ids;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "output .safetensors file")
    Path out;

    @Option(names = "--quantization", defaultValue = "none", description = "none | nf4 | fp4: quantize the decoder projections on load (default ${DEFAULT-VALUE})")
    String quantization;

    @Option(names = "--double-quant", description = "with nf4/fp4: also quantize the block scales (8-bit, blocks of 256)")
    boolean doubleQuant;

    @Option(names = "--block-size", defaultValue = "64", description = "elements per 4-bit block (default ${DEFAULT-VALUE})")
    int blockSize;

    @Override
    public Integer call() throws Exception {
        try (HfCheckpoint ckpt = HfCheckpoint.open(model); NDManager manager = NDManager.newBaseManager("PyTorch")) {
            int vocab = ckpt.config().vocabSize();
            for (long id : ids) {
                if (id < 0 || id >= vocab) throw new WorkbenchCli.UserInputException("--ids: token id " + id + " is outside the vocabulary [0, " + vocab + ")");
            }
            DecoderWeights.Quantization q = switch (quantization.toLowerCase(java.util.Locale.ROOT)) {
                case "none" -> null;
                case "nf4" -> new DecoderWeights.Quantization(Codebook.NF4, blockSize, doubleQuant);
                case "fp4" -> new DecoderWeights.Quantization(Codebook.FP4, blockSize, doubleQuant);
                default -> throw new WorkbenchCli.UserInputException("--quantization " + quantization + ": expected none, nf4 or fp4");
            };
            DecoderWeights weights = DecoderWeights.load(ckpt, manager, q);
            LoraAdapter lora = adapter == null ? null : PeftFormat.read(adapter, ckpt.config(), manager);
            Decoder decoder = new Decoder(ckpt.config(), weights, lora);
            NDArray logits = decoder.logits(Tensors.of(manager, ids, new Shape(1, ids.length)), new int[] {ids.length}, false);
            new SafetensorsWriter().putF32("logits", new long[] {ids.length, vocab}, logits.toFloatArray()).write(out);
            System.out.println("wrote logits [" + ids.length + ", " + vocab + "] to " + out);
        }
        return 0;
    }
}
