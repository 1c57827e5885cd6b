package dev.loraworkbench.trainer.export;

import dev.loraworkbench.trainer.io.GgufWriter.TensorType;
import dev.loraworkbench.trainer.model.ModelConfig;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What {@code export gguf --type} names: llama.cpp's file type (llama.h's llama_ftype, written as general.file_type)
 * and the rule that gives each tensor its ggml type. 1-D tensors (norms, biases, rope factors) are always f32.
 * f32 / f16 / bf16 / q8_0 / q4_0: every 2-D weight in the one type, f16 where its rows are no whole number of blocks
 * (as llama.cpp's converter falls back), under q4_0 the head in q8_0. q4_k_m: the mix llama-quantize makes for
 * Q4_K_M without an importance matrix ({@link #q4KM}).
 */
public enum GgufFileType {
    F32(0, TensorType.F32), F16(1, TensorType.F16), BF16(32, TensorType.BF16), Q8_0(7, TensorType.Q8_0), Q4_0(2, TensorType.Q4_0),
    Q4_K_M(15, TensorType.Q4_K);

    private static final Pattern LAYER = Pattern.compile("blk\\.(\\d+)\\..+");

    /** llama.cpp's LLAMA_FTYPE_* value. */
    public final int id;
    /** The type of most 2-D weights. */
    public final TensorType base;

    GgufFileType(int id, TensorType base) {
        this.id = id;
        this.base = base;
    }

    /** The name {@code --type} takes: f16, q4_k_m, ... */
    public String cliName() { return name().toLowerCase(Locale.ROOT); }

    /**
     * What llama-quantize's choice looks at beyond a tensor's name and shape: the number of layers, whether the model has
     * its own output.weight (without one, token_embd is also the head and is treated as the head), and whether llama.cpp
     * takes the model for a 70B (80 layers: qwen2 always, llama with grouped-query attention), whose attn_v gets more bits.
     */
    public record Layout(int layers, boolean hasOutput, boolean is70B) {
        static Layout of(String arch, ModelConfig c, boolean hasOutput) {
            boolean is70B = c.numLayers() == 80 && (arch.equals("qwen2") || arch.equals("llama") && c.numHeads() != c.numKvHeads());
            return new Layout(c.numLayers(), hasOutput, is70B);
        }
    }

    /** The type tensor {@code name} (llama.cpp's name) of PyTorch shape {@code shape} is stored in. */
    public TensorType tensorType(String name, long[] shape, Layout layout) {
        if (shape.length != 2) return TensorType.F32;
        long cols = shape[1]; // ggml's ne[0]: the row length
        if (this == Q4_K_M) return fallback(q4KM(name, cols, layout), cols);
        TensorType type = this == Q4_0 && name.equals("output.weight") ? TensorType.Q8_0 : base;
        return type.fits(cols) ? type : TensorType.F16;
    }

    /**
     * llama_tensor_get_type_impl (src/llama-quant.cpp) for LLAMA_FTYPE_MOSTLY_Q4_K_M on a dense qwen2 / llama model:
     * Q4_K, except the head (output.weight, or token_embd when it is also the head) in Q6_K, or Q8_0 when its rows are
     * no multiple of 256; attn_v and ffn_down in Q6_K in the layers use_more_bits picks; a 70B's other attn_v in Q5_K.
     * llama.cpp counts attn_v and ffn_down tensors in the order it sorts them (by layer), so the count is the layer.
     */
    private static TensorType q4KM(String name, long cols, Layout layout) {
        boolean head = name.equals("output.weight") || !layout.hasOutput() && name.equals("token_embd.weight");
        if (head) return cols % TensorType.Q4_K.blockSize != 0 ? TensorType.Q8_0 : TensorType.Q6_K;
        Matcher m = LAYER.matcher(name);
        if (!m.matches()) return TensorType.Q4_K;
        int layer = Integer.parseInt(m.group(1));
        if (name.endsWith(".attn_v.weight")) {
            if (useMoreBits(layer, layout.layers())) return TensorType.Q6_K;
            return layout.is70B() ? TensorType.Q5_K : TensorType.Q4_K;
        }
        if (name.endsWith(".ffn_down.weight") && useMoreBits(layer, layout.layers())) return TensorType.Q6_K;
        return TensorType.Q4_K;
    }

    /** llama-quant.cpp's use_more_bits: the first and last eighth of the layers, and every third one between. */
    static boolean useMoreBits(int layer, int layers) {
        return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    }

    /**
     * llama-quant.cpp's tensor_type_fallback: a 256-block type on rows that are no multiple of 256 becomes a 32-block
     * one (Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0), and F16 where rows are no multiple of 32 either.
     */
    static TensorType fallback(TensorType type, long cols) {
        if (type.fits(cols)) return type;
        TensorType smaller = switch (type) {
            case Q4_K -> TensorType.Q5_0;
            case Q5_K -> TensorType.Q5_1;
            case Q6_K -> TensorType.Q8_0;
            default -> type;
        };
        return smaller.fits(cols) ? smaller : TensorType.F16;
    }
}
