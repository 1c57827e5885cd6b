package dev.loraworkbench.trainer.export;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.io.DType;
import dev.loraworkbench.trainer.io.StreamingSafetensorsWriter;
import dev.loraworkbench.trainer.io.TensorInfo;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.quant.Quantization;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Base model + LoRA merged into one Hugging Face checkpoint ({@link MergedWeights}), streamed tensor by tensor into
 * size-limited shards with model.safetensors.index.json, plus config, generation config and tokenizer files: the
 * merged model computes what the trained one did.
 */
public final class MergedExport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private MergedExport() {}

    /** What was written. */
    public record Result(Path dir, int shards, long bytes, int mergedModules) {}

    public static Result export(Path baseDir, Path adapterDir, Path out, DType dtype, long shardBytes, PrintStream log) throws IOException {
        return export(baseDir, adapterDir, out, dtype, shardBytes, null, log);
    }

    /** @param trainedOn the 4-bit quantization the adapter was trained against (its projections are merged dequantized), or null */
    public static Result export(Path baseDir, Path adapterDir, Path out, DType dtype, long shardBytes, Quantization trainedOn,
                                PrintStream log) throws IOException {
        try (HfCheckpoint base = HfCheckpoint.open(baseDir); NDManager manager = NDManager.newBaseManager("PyTorch")) {
            LoraAdapter adapter = PeftFormat.read(adapterDir, base.config(), manager);
            MergedWeights weights = new MergedWeights(base, adapter, trainedOn);
            List<TensorInfo> tensors = base.tensorsInOrder();
            List<List<StreamingSafetensorsWriter.Spec>> shards = planShards(tensors, dtype, shardBytes);
            int[] merged = {0};
            long[] total = {0};
            AtomicFiles.publishDirectory(out, dir -> {
                Map<String, String> weightMap = new LinkedHashMap<>();
                for (int s = 0; s < shards.size(); s++) {
                    String file = shards.size() == 1 ? "model.safetensors"
                            : String.format("model-%05d-of-%05d.safetensors", s + 1, shards.size());
                    try (var writer = new StreamingSafetensorsWriter(dir.resolve(file), shards.get(s), Map.of("format", "pt"))) {
                        for (var spec : shards.get(s)) {
                            float[] values = weights.values(spec.name(), spec.shape());
                            if (weights.adapted(spec.name()) != null) merged[0]++;
                            writer.write(spec.name(), values);
                            weightMap.put(spec.name(), file);
                            total[0] += (long) values.length * dtype.bytes;
                        }
                    }
                    log.printf("wrote %s%n", file);
                }
                if (shards.size() > 1) {
                    ObjectNode index = JSON.createObjectNode();
                    index.putObject("metadata").put("total_size", total[0]);
                    index.set("weight_map", JSON.valueToTree(weightMap));
                    AtomicFiles.writeString(dir.resolve("model.safetensors.index.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index));
                }
                HfCheckpoint.writeCompanions(baseDir, dir, switch (dtype) { case BF16 -> "bfloat16"; case F16 -> "float16"; default -> "float32"; });
            });
            if (merged[0] != adapter.pairs().size()) {
                throw new IllegalStateException("merged " + merged[0] + " of " + adapter.pairs().size() + " adapted modules");
            }
            return new Result(out, shards.size(), total[0], merged[0]);
        }
    }

    /** Consecutive tensors per shard, each shard at most {@code shardBytes} unless a single tensor is larger. */
    static List<List<StreamingSafetensorsWriter.Spec>> planShards(List<TensorInfo> tensors, DType dtype, long shardBytes) {
        List<List<StreamingSafetensorsWriter.Spec>> shards = new ArrayList<>();
        List<StreamingSafetensorsWriter.Spec> current = new ArrayList<>();
        long size = 0;
        for (TensorInfo t : tensors) {
            long bytes = t.numel() * dtype.bytes;
            if (!current.isEmpty() && size + bytes > shardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                size = 0;
            }
            current.add(new StreamingSafetensorsWriter.Spec(t.name(), dtype, t.shape()));
            size += bytes;
        }
        if (!current.isEmpty()) shards.add(current);
        return shards;
    }
}
