package dev.loraworkbench.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/** The parts of a Hugging Face config.json that decide the decoder's math (Qwen2 / Llama / Mistral family). */
public record ModelConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        int maxPositionEmbeddings,
        int slidingWindow) {

    private static final Set<String> SUPPORTED = Set.of("qwen2", "llama", "mistral");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** HF rope_scaling; {@code type} is "llama3" or "linear". */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {}

    public static ModelConfig load(Path configJson) {
        JsonNode c;
        try {
            c = JSON.readTree(Files.readString(configJson));
        } catch (IOException e) {
            throw new CheckpointFormatException(dev.loraworkbench.datasets.JsonProblems.describe(configJson, e));
        }
        return fromJson(c, configJson.toString());
    }

    public static ModelConfig fromJson(JsonNode c, String where) {
        String type = text(c, "model_type", where);
        if (!SUPPORTED.contains(type)) {
            throw new CheckpointFormatException(where + ": model_type '" + type + "' is not supported; expected one of " + SUPPORTED);
        }
        String act = c.path("hidden_act").asText("silu");
        if (!act.equals("silu")) throw new CheckpointFormatException(where + ": hidden_act '" + act + "' is not supported; expected silu");
        int hidden = integer(c, "hidden_size", where);
        int heads = integer(c, "num_attention_heads", where);
        int kvHeads = c.hasNonNull("num_key_value_heads") ? integer(c, "num_key_value_heads", where) : heads;
        int headDim = c.hasNonNull("head_dim") ? integer(c, "head_dim", where) : hidden / heads;
        // as transformers: head_dim, else hidden_size // num_attention_heads (which must leave something to rotate)
        if (headDim == 0 || headDim % 2 != 0) {
            throw new CheckpointFormatException(where + ": head_dim " + headDim + (c.hasNonNull("head_dim") ? "" : " (hidden_size / num_attention_heads)")
                    + " must be a positive even number; RoPE rotates halves of each head");
        }
        double eps = c.path("rms_norm_eps").asDouble(1e-6);
        double theta = c.path("rope_theta").asDouble(10000.0);
        if (!(eps > 0 && eps < 1) || !(theta > 0 && Double.isFinite(theta))) {
            throw new CheckpointFormatException(where + ": rms_norm_eps " + c.get("rms_norm_eps") + " / rope_theta " + c.get("rope_theta")
                    + ": expected a small positive epsilon and a positive finite base");
        }
        if (heads % kvHeads != 0) {
            throw new CheckpointFormatException(where + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        for (String field : new String[] {"attn_logit_softcapping", "final_logit_softcapping", "qk_layernorm", "use_qk_norm"}) {
            JsonNode v = c.get(field);
            if (v != null && !v.isNull() && !(v.isBoolean() && !v.asBoolean())) {
                throw new CheckpointFormatException(where + ": field '" + field + "' (" + v + ") changes the attention math and is not supported for " + type);
            }
        }
        if (c.has("partial_rotary_factor") && c.get("partial_rotary_factor").asDouble(1) != 1.0) {
            throw new CheckpointFormatException(where + ": field 'partial_rotary_factor' " + c.get("partial_rotary_factor") + " is not supported; expected 1.0 (RoPE on the whole head)");
        }
        if (c.path("mlp_bias").asBoolean(false)) throw new CheckpointFormatException(where + ": mlp_bias true is not supported");
        boolean qkvBias = type.equals("qwen2") || c.path("attention_bias").asBoolean(false);
        if (type.equals("llama") && c.path("attention_bias").asBoolean(false)) {
            throw new CheckpointFormatException(where + ": attention_bias true (bias on o_proj too) is not supported");
        }
        return new ModelConfig(type,
                integer(c, "vocab_size", where), hidden, integer(c, "intermediate_size", where),
                integer(c, "num_hidden_layers", where), heads, kvHeads, headDim,
                eps,
                theta,
                ropeScaling(c.get("rope_scaling"), where),
                c.path("tie_word_embeddings").asBoolean(false),
                qkvBias,
                c.hasNonNull("max_position_embeddings") ? integer(c, "max_position_embeddings", where) : 32768,
                slidingWindow(c, type));
    }

    private static RopeScaling ropeScaling(JsonNode s, String where) {
        if (s == null || s.isNull()) return null;
        String type = s.hasNonNull("rope_type") ? s.get("rope_type").asText() : s.path("type").asText("");
        return switch (type) {
            case "default" -> null;
            case "linear" -> new RopeScaling("linear", s.path("factor").asDouble(1), 0, 0, 0);
            case "llama3" -> new RopeScaling("llama3", s.path("factor").asDouble(), s.path("low_freq_factor").asDouble(1),
                    s.path("high_freq_factor").asDouble(4), s.path("original_max_position_embeddings").asInt(8192));
            default -> throw new CheckpointFormatException(where + ": rope_scaling type '" + type + "' is not supported; expected llama3 or linear");
        };
    }

    private static String text(JsonNode c, String field, String where) {
        if (!c.hasNonNull(field)) throw new CheckpointFormatException(where + ": field '" + field + "' is missing");
        return c.get(field).asText();
    }

    private static int integer(JsonNode c, String field, String where) {
        JsonNode n = c.get(field);
        if (n == null || !n.canConvertToInt() || n.asInt() <= 0) {
            throw new CheckpointFormatException(where + ": field '" + field + "' must be a positive whole number, found " + n);
        }
        return n.asInt();
    }

    /** 0 when attention sees the whole sequence; else the window (Mistral's sliding_window, Qwen2's when use_sliding_window). */
    private static int slidingWindow(JsonNode c, String type) {
        JsonNode w = c.get("sliding_window");
        if (w == null || w.isNull() || !w.canConvertToInt()) return 0;
        if (type.equals("qwen2") && !c.path("use_sliding_window").asBoolean(false)) return 0;
        return type.equals("llama") ? 0 : w.asInt();
    }

    /**
     * Sliding-window attention equals full attention while a sequence fits in the window, so it is not
     * implemented; longer sequences are refused instead of silently computing something else.
     */
    public void checkSequenceLength(int tokens) {
        if (slidingWindow > 0 && tokens > slidingWindow) {
            throw new CheckpointFormatException("a sequence of " + tokens + " tokens is longer than the model's sliding_window " + slidingWindow
                    + " (config.json); sliding-window attention is not implemented: keep dataset.max_seq_len (or prompt + --max-new-tokens) <= " + slidingWindow);
        }
    }

    /** RoPE inverse frequencies, with llama3 / linear scaling applied exactly as transformers does. */
    public double[] inverseFrequencies() {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) inv[i] = 1.0 / Math.pow(ropeTheta, (2.0 * i) / headDim);
        if (ropeScaling == null) return inv;
        if (ropeScaling.type().equals("linear")) {
            for (int i = 0; i < inv.length; i++) inv[i] /= ropeScaling.factor();
            return inv;
        }
        double factor = ropeScaling.factor();
        double lowWavelen = ropeScaling.originalMaxPositionEmbeddings() / ropeScaling.lowFreqFactor();
        double highWavelen = ropeScaling.originalMaxPositionEmbeddings() / ropeScaling.highFreqFactor();
        for (int i = 0; i < inv.length; i++) {
            double wavelen = 2 * Math.PI / inv[i];
            if (wavelen > lowWavelen) {
                inv[i] = inv[i] / factor;
            } else if (wavelen >= highWavelen) { // medium frequencies: interpolate
                double smooth = (ropeScaling.originalMaxPositionEmbeddings() / wavelen - ropeScaling.lowFreqFactor())
                        / (ropeScaling.highFreqFactor() - ropeScaling.lowFreqFactor());
                inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
            }
        }
        return inv;
    }
}
