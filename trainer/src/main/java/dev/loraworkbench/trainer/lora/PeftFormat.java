package dev.loraworkbench.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import dev.loraworkbench.trainer.io.TensorInfo;
import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The one place that knows PEFT's adapter layout: adapter_config.json + adapter_model.safetensors with "base_model.model.*.lora_A.weight" names. */
public final class PeftFormat {
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper();

    private PeftFormat() {}

    public static String tensorName(String modulePath, String which) {
        return "base_model.model." + modulePath + ".lora_" + which + ".weight";
    }

    public static void write(LoraAdapter adapter, Path dir, String baseModel) throws IOException {
        Files.createDirectories(dir);
        SafetensorsWriter w = new SafetensorsWriter();
        for (var e : adapter.pairs().entrySet()) {
            put(w, tensorName(e.getKey(), "A"), e.getValue().a());
            put(w, tensorName(e.getKey(), "B"), e.getValue().b());
        }
        w.write(dir.resolve(WEIGHTS));
        var s = adapter.settings();
        ObjectNode c = JSON.createObjectNode();
        c.put("peft_type", "LORA");
        c.put("task_type", "CAUSAL_LM");
        c.put("base_model_name_or_path", baseModel);
        c.put("r", s.r());
        c.put("lora_alpha", s.alpha());
        c.put("lora_dropout", s.dropout());
        var targets = c.putArray("target_modules");
        s.targetModules().forEach(targets::add);
        c.put("bias", "none");
        c.put("use_rslora", s.useRslora());
        c.put("use_dora", false);
        c.putNull("modules_to_save");
        c.put("fan_in_fan_out", false);
        c.put("init_lora_weights", true);
        c.put("inference_mode", true);
        AtomicFiles.writeString(dir.resolve(CONFIG), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(c));
    }

    private static void put(SafetensorsWriter w, String name, NDArray a) {
        w.putF32(name, a.getShape().getShape(), a.toFloatArray());
    }

    public static LoraAdapter read(Path dir, ModelConfig config, NDManager manager) {
        Path configFile = dir.resolve(CONFIG);
        Path weights = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(configFile)) throw new CheckpointFormatException(dir + ": no " + CONFIG + "; is this a PEFT adapter directory?");
        if (!Files.isRegularFile(weights)) throw new CheckpointFormatException(dir + ": no " + WEIGHTS);
        JsonNode c;
        try {
            c = JSON.readTree(Files.readString(configFile));
        } catch (IOException e) {
            throw new CheckpointFormatException(dev.loraworkbench.datasets.JsonProblems.describe(configFile, e));
        }
        if (!"LORA".equals(c.path("peft_type").asText())) {
            throw new CheckpointFormatException(configFile + ": peft_type '" + c.path("peft_type").asText() + "' is not supported; expected LORA");
        }
        if (c.path("use_dora").asBoolean(false)) throw new CheckpointFormatException(configFile + ": use_dora true is not supported");
        int r = c.path("r").asInt(8);
        List<String> targets = new ArrayList<>();
        JsonNode t = c.get("target_modules");
        if (t != null && t.isArray()) t.forEach(n -> targets.add(n.asText()));
        else if (t != null && t.isTextual()) targets.add(t.asText());
        var settings = new LoraAdapter.LoraSettings(r, c.path("lora_alpha").asDouble(8), c.path("lora_dropout").asDouble(0),
                List.copyOf(Projection.expandTargets(targets)), c.path("use_rslora").asBoolean(false));
        Map<String, LoraAdapter.Pair> pairs = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(weights)) {
            for (int layer = 0; layer < config.numLayers(); layer++) {
                for (Projection p : Projection.values()) {
                    String module = p.modulePath(layer);
                    String aName = tensorName(module, "A");
                    if (!f.tensors().containsKey(aName)) continue;
                    NDArray a = load(f, aName, manager, r, p.in(config));
                    NDArray b = load(f, tensorName(module, "B"), manager, p.out(config), r);
                    pairs.put(module, new LoraAdapter.Pair(a, b));
                }
            }
            for (String name : f.tensors().keySet()) {
                boolean known = pairs.keySet().stream().anyMatch(m -> name.equals(tensorName(m, "A")) || name.equals(tensorName(m, "B")));
                if (!known) throw new CheckpointFormatException(weights + ": tensor '" + name + "' does not name a LoRA weight of this model");
            }
        }
        if (pairs.isEmpty()) throw new CheckpointFormatException(weights + ": no LoRA weights for this model");
        return new LoraAdapter(pairs, settings);
    }

    private static NDArray load(SafetensorsFile f, String name, NDManager manager, long... shape) {
        TensorInfo info = f.info(name);
        if (!Arrays.equals(info.shape(), shape)) {
            throw new CheckpointFormatException(f.path() + ": tensor '" + name + "' has shape " + Arrays.toString(info.shape())
                    + ", expected " + Arrays.toString(shape) + " (does the adapter belong to this model?)");
        }
        return Tensors.of(manager, f.floats(name), new Shape(shape));
    }
}
