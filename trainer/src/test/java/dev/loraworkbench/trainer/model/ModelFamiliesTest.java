package dev.loraworkbench.trainer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.DType;
import dev.loraworkbench.trainer.io.Floats;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each supported family on a small random checkpoint the test writes (its own dtype, GQA ratio, bias, head_dim,
 * RoPE scaling, tied head, single file or shards): the NDArray decoder against {@link ReferenceForward}, a batch
 * with right padding included, within 1e-4 of the logit range.
 */
class ModelFamiliesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path dir;

    record Family(String name, DType dtype, boolean sharded, Map<String, Object> config) {}

    static List<Family> families() {
        List<Family> f = new ArrayList<>();
        f.add(new Family("qwen2-gqa-bias-bf16", DType.BF16, false, Map.of("model_type", "qwen2", "num_attention_heads", 4, "num_key_value_heads", 2,
                "rope_theta", 1e6, "tie_word_embeddings", false)));
        f.add(new Family("llama3-rope-head_dim-tied-f16", DType.F16, true, Map.of("model_type", "llama", "num_attention_heads", 4, "num_key_value_heads", 4,
                "head_dim", 24, "rope_theta", 500000.0, "tie_word_embeddings", true,
                "rope_scaling", Map.of("rope_type", "llama3", "factor", 8.0, "low_freq_factor", 1.0, "high_freq_factor", 4.0, "original_max_position_embeddings", 64))));
        f.add(new Family("llama-linear-rope-f32", DType.F32, false, Map.of("model_type", "llama", "num_attention_heads", 8, "num_key_value_heads", 2,
                "rope_scaling", Map.of("type", "linear", "factor", 2.0), "rms_norm_eps", 1e-5)));
        f.add(new Family("mistral-mqa-window-bf16", DType.BF16, true, Map.of("model_type", "mistral", "num_attention_heads", 4, "num_key_value_heads", 1,
                "sliding_window", 4096, "rope_theta", 10000.0)));
        return f;
    }

    /** Writes config.json + random weights (biases and norms random too, so every term is exercised). */
    static Path write(Path dir, Family family, long seed) throws Exception {
        Files.createDirectories(dir);
        ObjectNode config = JSON.valueToTree(Map.of("hidden_size", 64, "intermediate_size", 96, "num_hidden_layers", 2, "vocab_size", 160,
                "hidden_act", "silu", "max_position_embeddings", 2048, "rms_norm_eps", 1e-6));
        config.setAll((ObjectNode) JSON.valueToTree(family.config()));
        Files.writeString(dir.resolve("config.json"), config.toString());
        ModelConfig c = ModelConfig.load(dir.resolve("config.json"));
        Random random = new Random(seed);
        Map<String, float[]> values = new HashMap<>();
        Map<String, long[]> shapes = new HashMap<>();
        put(values, shapes, random, "model.embed_tokens.weight", 0.5, c.vocabSize(), c.hiddenSize());
        for (int i = 0; i < c.numLayers(); i++) {
            put(values, shapes, random, "model.layers." + i + ".input_layernorm.weight", 0.3, c.hiddenSize()).replaceAll(1);
            put(values, shapes, random, "model.layers." + i + ".post_attention_layernorm.weight", 0.3, c.hiddenSize()).replaceAll(1);
            for (Projection p : Projection.values()) {
                put(values, shapes, random, p.modulePath(i) + ".weight", 1 / Math.sqrt(p.in(c)), p.out(c), p.in(c));
                if (p.hasBias(c)) put(values, shapes, random, p.modulePath(i) + ".bias", 0.2, p.out(c));
            }
        }
        put(values, shapes, random, "model.norm.weight", 0.3, c.hiddenSize()).replaceAll(1);
        if (!c.tieWordEmbeddings()) put(values, shapes, random, "lm_head.weight", 1 / Math.sqrt(c.hiddenSize()), c.vocabSize(), c.hiddenSize());

        List<String> names = new ArrayList<>(values.keySet());
        names.sort(null);
        SafetensorsWriter[] shards = family.sharded() ? new SafetensorsWriter[] {new SafetensorsWriter(), new SafetensorsWriter()} : new SafetensorsWriter[] {new SafetensorsWriter()};
        ObjectNode weightMap = JSON.createObjectNode();
        for (int n = 0; n < names.size(); n++) {
            String name = names.get(n);
            int shard = n % shards.length;
            shards[shard].put(name, family.dtype(), shapes.get(name), encode(values.get(name), family.dtype()));
            weightMap.put(name, "model-0000" + (shard + 1) + "-of-0000" + shards.length + ".safetensors");
        }
        if (family.sharded()) {
            for (int s = 0; s < shards.length; s++) shards[s].write(dir.resolve("model-0000" + (s + 1) + "-of-0000" + shards.length + ".safetensors"));
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata");
            index.set("weight_map", weightMap);
            Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
        } else {
            shards[0].write(dir.resolve("model.safetensors"));
        }
        return dir;
    }

    /** A random tensor; norms are drawn as 1 + noise through the returned view. */
    private static NormView put(Map<String, float[]> values, Map<String, long[]> shapes, Random r, String name, double std, long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * std);
        values.put(name, v);
        shapes.put(name, shape);
        return new NormView(v);
    }

    record NormView(float[] v) {
        NormView replaceAll(float center) {
            for (int i = 0; i < v.length; i++) v[i] += center;
            return this;
        }
    }

    private static byte[] encode(float[] v, DType dtype) {
        ByteBuffer b = ByteBuffer.allocate(v.length * dtype.bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            switch (dtype) {
                case F32 -> b.putFloat(f);
                case F16 -> b.putShort(Floats.floatToF16(f));
                case BF16 -> b.putShort(Floats.floatToBf16(f));
                default -> throw new IllegalArgumentException(dtype.name());
            }
        }
        return b.array();
    }

    /** Every tensor of the checkpoint as floats (any dtype, any shard), for the reference. */
    private static Map<String, float[]> readAll(Path model) {
        Map<String, float[]> all = new HashMap<>();
        try (var files = Files.list(model)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".safetensors")).toList()) {
                try (SafetensorsFile sf = SafetensorsFile.open(f)) {
                    for (String name : sf.tensors().keySet()) all.put(name, sf.floats(name));
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return all;
    }

    @Test
    void everyFamilyMatchesThePlainJavaReference() throws Exception {
        int[] longer = {3, 17, 42, 99, 5, 150, 77, 8, 61, 120, 33};
        int[] shorter = {9, 14, 140, 2, 71, 88};
        for (Family family : families()) {
            Path model = write(dir.resolve(family.name()), family, family.name().hashCode());
            Map<String, float[]> tensors = readAll(model);
            ReferenceForward reference = new ReferenceForward(model.resolve("config.json"), tensors::get);
            try (HfCheckpoint ckpt = HfCheckpoint.open(model); NDManager m = NDManager.newBaseManager("PyTorch")) {
                Decoder decoder = new Decoder(ckpt.config(), DecoderWeights.load(ckpt, m));
                long[] batch = new long[2 * longer.length];
                for (int t = 0; t < longer.length; t++) batch[t] = longer[t];
                for (int t = 0; t < shorter.length; t++) batch[longer.length + t] = shorter[t]; // rest: padding id 0
                NDArray logits = decoder.logits(Tensors.of(m, batch, new Shape(2, longer.length)), new int[] {longer.length, shorter.length}, false);
                int vocab = ckpt.config().vocabSize();
                float[] got = logits.toFloatArray();
                int[][] rows = {longer, shorter};
                for (int b = 0; b < 2; b++) {
                    double[][] want = reference.logits(rows[b]);
                    double range = 0;
                    double worst = 0;
                    for (int t = 0; t < rows[b].length; t++) {
                        for (int v = 0; v < vocab; v++) {
                            range = Math.max(range, Math.abs(want[t][v]));
                            worst = Math.max(worst, Math.abs(want[t][v] - got[(b * longer.length + t) * vocab + v]));
                        }
                    }
                    assertTrue(range > 1, family.name() + ": logits are not trivially small (" + range + ")");
                    assertTrue(worst <= 1e-4 * range, family.name() + " row " + b + ": max |decoder - reference| = " + worst + " over range " + range);
                }
            }
        }
    }

    @Test
    void mistralRefusesSequencesLongerThanItsSlidingWindow() throws Exception {
        Family small = new Family("mistral-window-8", DType.F32, false, Map.of("model_type", "mistral", "num_attention_heads", 4, "num_key_value_heads", 1,
                "sliding_window", 8));
        Path model = write(dir.resolve(small.name()), small, 1);
        try (HfCheckpoint ckpt = HfCheckpoint.open(model); NDManager m = NDManager.newBaseManager("PyTorch")) {
            Decoder decoder = new Decoder(ckpt.config(), DecoderWeights.load(ckpt, m));
            assertEquals(8, decoder.logits(Tensors.of(m, new long[8], new Shape(1, 8)), new int[] {8}, false).getShape().get(1));
            var e = assertThrows(CheckpointFormatException.class, () -> decoder.logits(Tensors.of(m, new long[9], new Shape(1, 9)), new int[] {9}, false));
            assertTrue(e.getMessage().contains("longer than the model's sliding_window 8"), e.getMessage());
        }
    }

    @Test
    void configFieldsThatChangeTheMathAreRefusedByName() throws Exception {
        for (var bad : List.of(Map.of("model_type", "gemma2"), Map.of("hidden_act", "gelu"), Map.of("attn_logit_softcapping", 50.0),
                Map.of("partial_rotary_factor", 0.5), Map.of("rope_scaling", Map.of("rope_type", "yarn", "factor", 4.0)))) {
            ObjectNode config = JSON.valueToTree(Map.of("model_type", "llama", "hidden_size", 64, "intermediate_size", 96, "num_hidden_layers", 2,
                    "vocab_size", 160, "num_attention_heads", 4));
            config.setAll((ObjectNode) JSON.valueToTree(bad));
            var e = assertThrows(CheckpointFormatException.class, () -> ModelConfig.fromJson(config, "config.json"));
            String field = bad.keySet().iterator().next();
            assertTrue(e.getMessage().contains(field) || e.getMessage().contains(String.valueOf(bad.get(field))), field + ": " + e.getMessage());
        }
    }
}
