package dev.loraworkbench.trainer.plan;

import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.ModelConfig;
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

    public static MemoryPlan of(ModelConfig c, Recipe r) {
        List<Item> items = new ArrayList<>();
        long layers = c.numLayers();
        long h = c.hiddenSize(), inter = c.intermediateSize(), kv = (long) c.numKvHeads() * c.headDim(), q = (long) c.numHeads() * c.headDim();
        long projPerLayer = h * q + 2 * h * kv + q * h + 3 * h * inter;
        var quant = r.quantization();
        long block = quant.blockSize();
        long projBytesPerLayer = switch (quant.type()) {
            case NONE -> projPerLayer * F32;
            case NF4, FP4 -> projPerLayer / 2 + (quant.doubleQuant() ? projPerLayer / block + projPerLayer / block / 256 * F32 + F32 : projPerLayer / block * F32);
        };
        String storage = quant.type() == Recipe.QuantType.NONE ? "fp32" : quant.type().name().toLowerCase() + ", blocks of " + block
                + (quant.doubleQuant() ? ", double-quantized scales" : ", fp32 scales");
        items.add(new Item("base projections", layers * projBytesPerLayer, String.format("%,d params, %s", layers * projPerLayer, storage), null));
        long biases = c.qkvBias() ? layers * (q + 2 * kv) : 0;
        long other = c.vocabSize() * h * (c.tieWordEmbeddings() ? 1 : 2) + layers * 2 * h + h + biases;
        items.add(new Item("embeddings, lm_head, norms", other * F32, String.format("%,d params, fp32", other), null));

        List<String> targets = r.lora().targetModules().equals(List.of("all-linear")) ? DecoderWeights.PROJECTIONS : r.lora().targetModules();
        long loraParams = 0;
        for (String p : targets) {
            int[] io = LoraAdapter.inOut(c, p);
            loraParams += layers * r.lora().r() * (long) (io[0] + io[1]);
        }
        items.add(new Item("LoRA weights + grads + AdamW m, v", loraParams * F32 * 4, String.format("%,d trainable params x 16 bytes", loraParams), null));

        long tokens = (long) r.training().microBatchSize() * r.dataset().maxSeqLen();
        long t = r.dataset().maxSeqLen();
        // tensors autograd keeps per token and layer: norms, q/k/v/o, scores + probabilities (T per head), MLP gate/up/act
        long perTokenLayer = (6 * h + 2 * kv + 2L * c.numHeads() * t + 4 * inter) * F32;
        long dequantizedLayer = quant.type() == Recipe.QuantType.NONE ? 0 : projPerLayer * F32;
        items.add(new Item("activations, every layer kept", layers * tokens * perTokenLayer, tokens + " tokens per micro-batch", false));
        if (dequantizedLayer > 0) {
            items.add(new Item("dequantized weights kept for backward", layers * dequantizedLayer, "fp32 copy of every layer's projections", false));
        }
        items.add(new Item("layer inputs (recomputation)", layers * tokens * h * F32, "one hidden state per layer", true));
        items.add(new Item("one layer recomputed", tokens * perTokenLayer + dequantizedLayer, "activations + dequantized weights of one layer", true));
        items.add(new Item("logits, log-probs, their gradient", 3 * tokens * c.vocabSize() * F32, tokens + " x " + c.vocabSize() + " fp32, 3 buffers", null));

        long common = items.stream().filter(i -> i.recomputation() == null).mapToLong(Item::bytes).sum();
        long with = common + items.stream().filter(i -> Boolean.TRUE.equals(i.recomputation())).mapToLong(Item::bytes).sum();
        long without = common + items.stream().filter(i -> Boolean.FALSE.equals(i.recomputation())).mapToLong(Item::bytes).sum();
        return new MemoryPlan(items, with, without);
    }

    public static String gb(long bytes) {
        return String.format("%.1f GB", bytes / 1e9);
    }
}
