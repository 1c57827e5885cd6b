package dev.loraworkbench.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.io.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/** A Hugging Face checkpoint directory: config.json plus one safetensors file or shards listed in model.safetensors.index.json. */
public final class HfCheckpoint implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The files that travel with a checkpoint's weights: generation config, tokenizer files, chat template. */
    public static final java.util.List<String> COMPANION_FILES = java.util.List.of("generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model", "chat_template.jinja");

    /**
     * What a checkpoint written from {@code from}'s model needs besides its weights: config.json with torch_dtype set to
     * the weights' dtype, and the companion files {@code from} has, each written atomically.
     *
     * @return the files written
     */
    public static java.util.List<String> writeCompanions(Path from, Path to, String torchDtype) throws IOException {
        java.util.List<String> written = new java.util.ArrayList<>(java.util.List.of("config.json"));
        var config = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(Files.readString(from.resolve("config.json")));
        config.put("torch_dtype", torchDtype);
        dev.loraworkbench.trainer.io.AtomicFiles.writeString(to.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));
        for (String name : COMPANION_FILES) {
            Path file = from.resolve(name);
            if (!Files.isRegularFile(file)) continue;
            if (!file.toAbsolutePath().equals(to.resolve(name).toAbsolutePath())) {
                dev.loraworkbench.trainer.io.AtomicFiles.write(to.resolve(name), out -> Files.copy(file, out));
            }
            written.add(name);
        }
        return written;
    }
    private final Path dir;
    private final ModelConfig config;
    private final Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
    private final Map<Path, SafetensorsFile> open = new LinkedHashMap<>();

    private HfCheckpoint(Path dir, ModelConfig config) {
        this.dir = dir;
        this.config = config;
    }

    public static HfCheckpoint open(Path dir) {
        if (!Files.isDirectory(dir)) throw new CheckpointFormatException(dir + ": model directory not found (check model.path)");
        Path configJson = dir.resolve("config.json");
        if (!Files.isRegularFile(configJson)) throw new CheckpointFormatException(dir + ": no config.json; is this a Hugging Face checkpoint directory?");
        HfCheckpoint ckpt = new HfCheckpoint(dir, ModelConfig.load(configJson));
        try {
            Path index = dir.resolve("model.safetensors.index.json");
            Path single = dir.resolve("model.safetensors");
            if (Files.isRegularFile(index)) {
                JsonNode map = readJson(index).get("weight_map");
                if (map == null || !map.isObject()) throw new CheckpointFormatException(index + ": field 'weight_map' is missing");
                map.fields().forEachRemaining(e -> {
                    SafetensorsFile f = ckpt.shard(dir.resolve(e.getValue().asText()), index);
                    if (!f.tensors().containsKey(e.getKey())) {
                        throw new CheckpointFormatException(index + ": weight_map says '" + e.getKey() + "' is in " + e.getValue().asText() + " but it is not there");
                    }
                    ckpt.fileOf.put(e.getKey(), f);
                });
            } else if (Files.isRegularFile(single)) {
                SafetensorsFile f = ckpt.shard(single, single);
                f.tensors().keySet().forEach(name -> ckpt.fileOf.put(name, f));
            } else {
                throw new CheckpointFormatException(dir + ": no model.safetensors or model.safetensors.index.json");
            }
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
        return ckpt;
    }

    private SafetensorsFile shard(Path file, Path mentionedIn) {
        if (!Files.isRegularFile(file)) throw new CheckpointFormatException(mentionedIn + ": shard " + file.getFileName() + " is missing");
        return open.computeIfAbsent(file, SafetensorsFile::open);
    }

    private static JsonNode readJson(Path p) {
        try {
            return JSON.readTree(Files.readString(p));
        } catch (IOException e) {
            throw new CheckpointFormatException(dev.loraworkbench.datasets.JsonProblems.describe(p, e));
        }
    }

    public Path dir() { return dir; }

    public ModelConfig config() { return config; }

    public boolean has(String name) { return fileOf.containsKey(name); }

    /** Every tensor, in the order of the index (or of the single file's header). */
    public java.util.List<TensorInfo> tensorsInOrder() {
        return fileOf.entrySet().stream().map(e -> e.getValue().info(e.getKey())).toList();
    }

    /** Bytes of all tensors as stored (what a load reads). */
    public long storedBytes() {
        return tensorsInOrder().stream().mapToLong(t -> t.end() - t.begin()).sum();
    }

    public TensorInfo info(String name) {
        return file(name).info(name);
    }

    public float[] floats(String name) {
        return file(name).floats(name);
    }

    /** A range of a tensor widened to fp32; see {@link SafetensorsFile#floats(String, long, float[], int)}. */
    public void floats(String name, long from, float[] dst, int count) {
        file(name).floats(name, from, dst, count);
    }

    private SafetensorsFile file(String name) {
        SafetensorsFile f = fileOf.get(name);
        if (f == null) throw new CheckpointFormatException(dir + ": tensor '" + name + "' is missing from the checkpoint");
        return f;
    }

    /** Fails naming every tensor the model expects but the checkpoint lacks, and every tensor it has but the model would ignore. */
    public void checkNames(java.util.Set<String> expected) {
        var missing = new TreeSet<>(expected);
        missing.removeAll(fileOf.keySet());
        var extra = new TreeSet<>(fileOf.keySet());
        extra.removeAll(expected);
        extra.removeIf(n -> n.endsWith("rotary_emb.inv_freq")); // older exports carry this buffer; it is recomputed
        if (!missing.isEmpty() || !extra.isEmpty()) {
            throw new CheckpointFormatException(dir + ": checkpoint does not match config.json ("
                    + config.modelType() + ", " + config.numLayers() + " layers)"
                    + (missing.isEmpty() ? "" : "; missing tensors: " + abbreviate(missing))
                    + (extra.isEmpty() ? "" : "; unexpected tensors: " + abbreviate(extra)));
        }
    }

    private static String abbreviate(TreeSet<String> names) {
        return names.size() <= 6 ? names.toString() : names.stream().limit(6).toList() + " and " + (names.size() - 6) + " more";
    }

    @Override
    public void close() {
        open.values().forEach(SafetensorsFile::close);
    }
}
