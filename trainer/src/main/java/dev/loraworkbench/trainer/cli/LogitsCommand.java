package dev.loraworkbench.trainer.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import dev.loraworkbench.trainer.loader.LoadedModel;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "One fp32 forward pass over token ids; writes tensor 'logits' [T, vocab] (F32) to a safetensors file.")
final class LogitsCommand implements Callable<Integer> {
    @Mixin ModelOptions model;

    @Option(names = "--ids", required = true, split = ",", paramLabel = "ID", description = "comma-separated token ids")
    long[] ids;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "output .safetensors file")
    Path out;

    @Override
    public Integer call() throws Exception {
        WorkbenchCli.fileToWrite("--out", out, "logits.safetensors");
        try (LoadedModel loaded = model.open()) {
            int vocab = loaded.decoder().config().vocabSize();
            for (long id : ids) {
                if (id < 0 || id >= vocab) throw new WorkbenchCli.UserInputException("--ids: token id " + id + " is outside the vocabulary [0, " + vocab + ")");
            }
            NDArray logits = loaded.decoder().logits(Tensors.of(loaded.manager(), ids, new Shape(1, ids.length)), new int[] {ids.length}, false);
            new SafetensorsWriter().putF32("logits", new long[] {ids.length, vocab}, logits.toFloatArray()).write(out);
            System.out.println("wrote logits [" + ids.length + ", " + vocab + "] to " + out);
        }
        return 0;
    }
}
