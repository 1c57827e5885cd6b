package dev.loraworkbench.trainer.plan;

import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.util.ArrayList;
import java.util.List;

/**
 * Memory a training run needs, computed from config.json and the recipe before anything loads. Sizes follow
 * this implementation: 4-bit projections with fp32 (or double-quantized) block scales, every other weight
 * and all compute in fp32, LoRA weights + gradients + two AdamW moments in fp32.
 */
public record MemoryPlan(List<Item> items, long withRecomputation, long withoutRecomputation) {
    /** One line of the plan; {@code recomputation} says which variant it belongs to (null: both). */
    public record Item(String name, long bytes, String detail, Boolean recomputation) {}

    private static final long F32 = 4;
    /**
     * What a training process holds besides tensors: JVM (heap, JIT, classes), libtorch's code and thread pools,
     * the tokenizer and the encoded dataset. Measured as peak anonymous RSS on the tiny preset, CPU, libtorch 2.7.1.
     */
    static final long RUNTIME = 280_000_000L;

    public static MemoryPlan of(ModelConfig c, Recipe r) {
        List<Item> items = new ArrayList<>();
        long layers = c.numLayers();
        long h = c.hiddenSize(), inter = c.intermediateSize(), kv = (long) c.numKvHeads() * c.headDim(), q = (long) c.numHeads() * c.headDim();
        long projPerLayer = h * q + 2 * h * kv + q * h + 3 * h * inter;
        var quant = r.quantization();
        long block = quant.blockSize();
        long compute = quant.computeDtype() == Recipe.ComputeDtype.FP32 ? F32 : 2;
        long projBytesPerLayer = switch (quant.type()) {
            case NONE -> projPerLayer * compute;
            case NF4, FP4 -> projPerLayer / 2 + (quant.doubleQuant() ? projPerLayer / block + projPerLayer / block / 256 * F32 + F32 : projPerLayer / block * F32);
        };
        String storage = quant.type() == Recipe.QuantType.NONE ? quant.computeDtype().name().toLowerCase() : quant.type().name().toLowerCase() + ", blocks of " + block
                + (quant.doubleQuant() ? ", double-quantized scales" : ", fp32 scales");
        items.add(new Item("base projections", layers * projBytesPerLayer, String.format("%,d params, %s", layers * projPerLayer, storage), null));
        long biases = c.qkvBias() ? layers * (q + 2 * kv) : 0;
        long other = c.vocabSize() * h * (c.tieWordEmbeddings() ? 1 : 2) + layers * 2 * h + h + biases;
        items.add(new Item("embeddings, lm_head, norms", other * F32, String.format("%,d params, fp32", other), null));

        boolean full = r.training().method() == Recipe.Method.FULL;
        List<String> targets = full ? List.of() : Projection.expandTargets(r.lora().targetModules());
        if (full) {
            // the weights themselves are counted above (fp32: full training refuses other storage)
            long params = layers * projPerLayer + other;
            items.add(new Item("gradients + AdamW m, v of every weight", params * F32 * 3, String.format("%,d trainable params x 12 bytes", params), null));
            long largest = Math.max(c.vocabSize() * h, Math.max(h * inter, h * q));
            items.add(new Item("AdamW step temporaries", 4 * largest * F32, "4 tensors the size of the largest weight", null));
        } else {
            long loraParams = 0;
            for (String p : targets) {
                Projection kind = Projection.byName(p).orElseThrow();
                loraParams += layers * r.lora().r() * (long) (kind.in(c) + kind.out(c));
            }
            items.add(new Item("LoRA weights + grads + AdamW m, v", loraParams * F32 * 4, String.format("%,d trainable params x 16 bytes", loraParams), null));
        }

        long tokens = (long) r.training().microBatchSize() * r.dataset().maxSeqLen();
        long t = r.dataset().maxSeqLen();
        long perTokenLayer = activationFloatsPerTokenLayer(c, t, targets, r.lora().r()) * F32;
        long dequantizedLayer = quant.type() == Recipe.QuantType.NONE ? 0 : projPerLayer * compute;
        items.add(new Item("activations, every layer kept", layers * tokens * perTokenLayer, tokens + " tokens per micro-batch", false));
        if (dequantizedLayer > 0) {
            items.add(new Item("dequantized weights kept for backward", layers * dequantizedLayer, (compute == F32 ? "fp32" : "half") + " copy of every layer's projections", false));
        }
        items.add(new Item("layer inputs (recomputation)", layers * tokens * h * F32, "one hidden state per layer", true));
        items.add(new Item("one layer recomputed", tokens * perTokenLayer + dequantizedLayer, "activations + dequantized weights of one layer", true));
        items.add(new Item("logits, log-probs, their gradient", 3 * tokens * c.vocabSize() * F32, tokens + " x " + c.vocabSize() + " fp32, 3 buffers", null));
        items.add(new Item("runtime: JVM, libtorch, data", RUNTIME, "measured on the tiny preset", null));
        // glibc keeps freed activation (and dequantization) buffers for reuse instead of returning them: measured
        // on small-qwen2 (135 M params, 512 tokens) as peak anonymous RSS minus everything above
        long slack = 5 * tokens * perTokenLayer / 2 + 5 * dequantizedLayer;
        items.add(new Item("allocator slack", slack, "freed buffers malloc keeps: 2.5 x one layer's activations + 5 x its dequantized weights", null));

        long common = items.stream().filter(i -> i.recomputation() == null).mapToLong(Item::bytes).sum();
        long with = common + items.stream().filter(i -> Boolean.TRUE.equals(i.recomputation())).mapToLong(Item::bytes).sum();
        long without = common + items.stream().filter(i -> Boolean.FALSE.equals(i.recomputation())).mapToLong(Item::bytes).sum();
        return new MemoryPlan(items, with, without);
    }

    /**
     * fp32 values autograd keeps per token and decoder layer in this implementation (counted from Decoder's ops):
     * two RMSNorms (x², x/rms, output: 3h each), q and k through RoPE (rotated copy, x·cos, rotated·sin, sum: 4 each),
     * v, the GQA-expanded k and v, attention scores / scaled / masked / softmax (4 per head and key), the attention
     * output with its transposed copy and o_proj output, two residual sums, the MLP's gate, up, sigmoid, silu and
     * product (5 × intermediate) and down output, and per LoRA-targeted projection its A output (r) plus B output
     * and scaled delta (2 × out).
     */
    static long activationFloatsPerTokenLayer(ModelConfig c, long seq, List<String> loraTargets, int r) {
        long h = c.hiddenSize(), inter = c.intermediateSize();
        long q = (long) c.numHeads() * c.headDim(), kv = (long) c.numKvHeads() * c.headDim();
        long floats = 2 * 3 * h + 4 * q + 4 * kv + kv + 2 * q + 4L * c.numHeads() * seq + 3 * q + 2 * h + 5 * inter + h;
        for (String p : loraTargets) floats += r + 2L * Projection.byName(p).orElseThrow().out(c);
        return floats;
    }

    public static String gb(long bytes) {
        return String.format("%.1f GB", bytes / 1e9);
    }
}
