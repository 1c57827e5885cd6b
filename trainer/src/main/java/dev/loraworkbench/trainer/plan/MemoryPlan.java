package dev.loraworkbench.trainer.plan;

import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.quant.Blockwise8bit;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Memory a training run needs, computed from config.json and the recipe before anything loads. Sizes follow this
 * implementation: 4-bit projections with fp32 (or double-quantized) block scales; embeddings and lm_head in the compute
 * dtype (fp32 for full training); norms, activations and the loss in fp32; LoRA weights + gradients + two AdamW moments
 * in fp32 (or 8-bit, as bitsandbytes' AdamW8bit); the loss over labelled positions a chunk at a time; with recomputation, a long sequence's layer rebuilt in
 * pieces (tiles of tokens, blocks of queries). The allocator's share depends on where the tensors live.
 */
public record MemoryPlan(List<Item> items, long withRecomputation, long withoutRecomputation, Allocator allocator, int seqLen) {
    /** One line of the plan; {@code recomputation} says which variant it belongs to (null: both). */
    public record Item(String name, long bytes, String detail, Boolean recomputation) {}

    /** Who hands out tensor memory: what it keeps beyond the live tensors differs. */
    public enum Allocator {
        /**
         * libtorch's CPU tensors through glibc malloc: freed blocks below the mmap threshold (32 MB: from the start with
         * ./workbench's trainer/scripts/malloc.env, after the first large free with glibc's defaults) stay in the heap
         * for reuse; larger ones are unmapped at once. Checked against measured peaks with both (within 0.3 GB of each other).
         */
        GLIBC,
        /**
         * The CUDA caching allocator (a DGX Spark's GPU, unified memory): the CUDA context and library workspaces, plus
         * blocks cached for reuse; PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True keeps that fragmentation low.
         */
        CUDA_CACHING;

        /** The allocator of a recipe's device: cuda, cuda:N -> CUDA caching; cpu, auto -> glibc (auto is planned as CPU). */
        public static Allocator of(String device) {
            return device != null && device.toLowerCase(Locale.ROOT).startsWith("cuda") ? CUDA_CACHING : GLIBC;
        }
    }

    private static final long F32 = 4;
    /** glibc's largest mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit): larger blocks go back to the OS when freed. */
    static final long MMAP_THRESHOLD = 32L << 20;
    /**
     * What a training process holds besides tensors: JVM (heap, JIT, classes), libtorch's code and thread pools,
     * the tokenizer and the encoded dataset. Measured as peak anonymous RSS on the tiny preset, CPU, libtorch 2.7.1.
     */
    static final long RUNTIME = 280_000_000L;
    /**
     * CUDA context, cuBLAS workspace and kernels loaded on first use (not measured here: no GPU; a typical CUDA 12
     * context with cuBLAS is 0.5-1 GB, counted at the upper end since on a Spark it comes out of the same memory).
     */
    static final long CUDA_CONTEXT = 1_000_000_000L;
    /** Blocks the caching allocator holds beyond the live tensors, as a share of the transient ones (assumed, with expandable segments). */
    static final double CUDA_CACHE_SHARE = 0.10;

    /** AdamW's two moments of a tensor of n values: fp32, or 8-bit blockwise for tensors of 4096+ values (as bitsandbytes' AdamW8bit). */
    static long momentBytes(long n, boolean eightBit) {
        return eightBit && n >= Blockwise8bit.MIN_8BIT_SIZE ? 2 * Blockwise8bit.bytes(n) : 2 * F32 * n;
    }

    /**
     * An 8-bit AdamW step's temporaries: one range of moments dequantized, updated and quantized again (64 bytes a value);
     * on a CPU, what glibc keeps of them in the heap, measured as 0.14-0.28 GB after a few steps (a 50M-value tensor, 30M
     * values in 100 tensors), counted as 0.28 GB.
     */
    static long eightBitStep(Allocator allocator, long values) {
        long range = 64 * Math.min(values, Blockwise8bit.RANGE_VALUES);
        return allocator == Allocator.GLIBC ? Math.max(range, 280_000_000L) : range;
    }

    public static MemoryPlan of(ModelConfig c, Recipe r) {
        return of(c, r, Allocator.of(r.device()), r.dataset().maxSeqLen());
    }

    public static MemoryPlan of(ModelConfig c, Recipe r, Allocator allocator, int seqLen) {
        List<Item> items = new ArrayList<>();
        long layers = c.numLayers();
        long h = c.hiddenSize(), inter = c.intermediateSize(), kv = (long) c.numKvHeads() * c.headDim(), q = (long) c.numHeads() * c.headDim();
        long projPerLayer = h * q + 2 * h * kv + q * h + 3 * h * inter;
        var quant = r.quantization();
        long block = quant.blockSize();
        long compute = quant.computeDtype() == Recipe.ComputeDtype.FP32 ? F32 : 2;
        boolean full = r.training().method() == Recipe.Method.FULL;
        long projBytesPerLayer = switch (quant.type()) {
            case NONE -> projPerLayer * compute;
            case NF4, FP4 -> projPerLayer / 2 + (quant.doubleQuant() ? projPerLayer / block + projPerLayer / block / 256 * F32 + F32 : projPerLayer / block * F32);
        };
        String storage = quant.type() == Recipe.QuantType.NONE ? dtype(compute) : quant.type().name().toLowerCase(Locale.ROOT) + ", blocks of " + block
                + (quant.doubleQuant() ? ", double-quantized scales" : ", fp32 scales");
        items.add(new Item("base projections", layers * projBytesPerLayer, String.format("%,d params, %s", layers * projPerLayer, storage), null));
        long tables = c.vocabSize() * h * (c.tieWordEmbeddings() ? 1 : 2);
        long tableBytes = full ? F32 : compute;
        items.add(new Item(c.tieWordEmbeddings() ? "embeddings (tied lm_head)" : "embeddings, lm_head", tables * tableBytes,
                String.format("%,d params, %s", tables, dtype(tableBytes)), null));
        long biases = c.qkvBias() ? layers * (q + 2 * kv) : 0;
        long norms = layers * 2 * h + h + biases;
        items.add(new Item("norms" + (biases > 0 ? ", biases" : ""), norms * F32, String.format("%,d params, fp32", norms), null));

        List<String> targets = full ? List.of() : Projection.expandTargets(r.lora().targetModules());
        boolean eightBit = r.training().optimizer() == Recipe.Optimizer.ADAMW_8BIT;
        if (full) {
            long params = layers * projPerLayer + tables + norms;
            // moments per tensor: 8-bit state only for tensors of 4096+ values (norms and biases keep fp32 moments)
            long moments = momentBytes(c.vocabSize() * h, eightBit) * (c.tieWordEmbeddings() ? 1 : 2) + momentBytes(h, eightBit) * (2 * layers + 1);
            for (Projection kind : Projection.values()) moments += layers * momentBytes((long) kind.in(c) * kind.out(c), eightBit);
            if (biases > 0) moments += layers * (momentBytes(q, eightBit) + 2 * momentBytes(kv, eightBit));
            items.add(new Item("gradients + AdamW m, v of every weight", params * F32 + moments, String.format("%,d trainable params x %s", params,
                    eightBit ? "4 bytes + 8-bit moments (2 bytes, a scale per 256)" : "12 bytes"), null));
            long largest = Math.max(c.vocabSize() * h, Math.max(h * inter, h * q));
            // fp32: 4 temporaries of the largest weight. 8-bit: one range of 256K values at a time (see eightBitStep), written
            // into the largest weight's fp32 update, made before the ranges
            items.add(eightBit
                    ? new Item("AdamW step temporaries", eightBitStep(allocator, largest) + F32 * largest, "the largest weight's update, its moments a range at a time", null)
                    : new Item("AdamW step temporaries", 4 * largest * F32, "4 tensors the size of the largest weight", null));
        } else {
            long loraParams = 0, moments = 0, largest = 0;
            for (String p : targets) {
                Projection kind = Projection.byName(p).orElseThrow();
                long a = (long) r.lora().r() * kind.in(c), b = (long) r.lora().r() * kind.out(c);
                loraParams += layers * (a + b);
                moments += layers * (momentBytes(a, eightBit) + momentBytes(b, eightBit));
                largest = Math.max(largest, Math.max(a, b));
            }
            items.add(new Item("LoRA weights + grads + AdamW m, v", loraParams * F32 * 2 + moments, String.format("%,d trainable params x %s", loraParams,
                    eightBit ? "8 bytes + 8-bit moments (2 bytes, a scale per 256)" : "16 bytes"), null));
            // the step updates a tensor (fp32: 6 fp32 temporaries of it) or an 8-bit group a range at a time
            items.add(eightBit
                    ? new Item("AdamW step temporaries", eightBitStep(allocator, loraParams) + F32 * Math.max(Math.min(Blockwise8bit.RANGE_VALUES, loraParams), largest),
                            "8-bit moments a range at a time, a group's update", null)
                    : new Item("AdamW step temporaries", 6 * F32 * largest, "one LoRA matrix at a time", null));
        }

        int rows = r.training().microBatchSize();
        long t = seqLen;
        long tokens = rows * t;
        int r0 = r.lora().r();
        boolean dropout = !full && r.lora().dropout() > 0;
        Activations whole = Activations.ofLayer(c, rows, t, t, targets, r0, dropout);
        long dequantizedLayer = quant.type() == Recipe.QuantType.NONE ? 0 : projPerLayer * compute;

        // without recomputation: every layer's graph, and the dequantized weights each layer's backward needs
        items.add(new Item("activations, every layer kept", layers * whole.bytes(), tokens + " tokens per micro-batch", false));
        if (dequantizedLayer > 0) {
            items.add(new Item("dequantized weights kept for backward", layers * dequantizedLayer, dtype(compute) + " copy of every layer's projections", false));
        }

        // with recomputation: each layer's input, and one layer rebuilt (in pieces when it would be too large whole)
        long checkpointBytes = r.training().checkpointDtype() == Recipe.ComputeDtype.FP32 ? F32 : 2;
        items.add(new Item("layer inputs (recomputation)", layers * tokens * h * checkpointBytes, "one hidden state per layer, " + dtype(checkpointBytes), true));
        Decoder.Blocks blocks = Decoder.blocks(c, rows, (int) t, Decoder.SCORE_FLOATS, Decoder.ACTIVATION_FLOATS);
        Activations recomputed;
        String how;
        if (blocks.cut((int) t)) {
            recomputed = Activations.inPieces(c, rows, t, blocks, targets, r0, dropout);
            how = String.format("in pieces: %d-token tiles, %d-query attention blocks", blocks.tokenTile(), blocks.queryBlock());
        } else {
            recomputed = whole;
            how = "whole";
        }
        items.add(new Item("one layer recomputed", recomputed.bytes() + dequantizedLayer, how + ", + its dequantized weights", true));

        long labelled = tokens; // at most: a Q&A example's prompt carries no label and never reaches lm_head
        long chunk = Math.min(labelled, Decoder.headChunk(c));
        long loss = 2 * tokens * h * F32 + 4 * chunk * c.vocabSize() * F32;
        items.add(new Item("loss (chunks of " + chunk + " positions)", loss, "last hidden state + its gradient; one chunk's logits, log-probs and their gradients", null));
        items.add(new Item("runtime: JVM, libtorch, data", RUNTIME, "measured on the tiny preset", null));

        long transientWithout = layers * whole.bytes() + layers * dequantizedLayer + loss;
        long transientWith = recomputed.bytes() + dequantizedLayer + loss;
        switch (allocator) {
            case GLIBC -> {
                // freed blocks under the mmap threshold stay in the heap: measured on small-qwen2 (135 M params, 512 tokens,
                // every block small) as 2.5 x one layer's activations + 5 x its dequantized weights
                long smallDequantized = 0;
                for (Projection p : Projection.values()) {
                    long bytes = (long) p.in(c) * p.out(c) * compute;
                    if (bytes < MMAP_THRESHOLD) smallDequantized += bytes;
                }
                if (dequantizedLayer == 0) smallDequantized = 0;
                long slack = 5 * recomputed.smallBytes() / 2 + 5 * smallDequantized;
                items.add(new Item("allocator slack (glibc)", slack, "freed blocks under 32 MB malloc keeps: 2.5 x one layer's, 5 x its dequantized weights", null));
            }
            case CUDA_CACHING -> {
                items.add(new Item("CUDA context + workspaces", CUDA_CONTEXT, "assumed (not measured here)", null));
                items.add(new Item("caching allocator reserve", (long) (CUDA_CACHE_SHARE * transientWith), "10% of the transient tensors (expandable_segments:True)", true));
                items.add(new Item("caching allocator reserve", (long) (CUDA_CACHE_SHARE * transientWithout), "10% of the transient tensors (expandable_segments:True)", false));
            }
        }

        long common = items.stream().filter(i -> i.recomputation() == null).mapToLong(Item::bytes).sum();
        long with = common + items.stream().filter(i -> Boolean.TRUE.equals(i.recomputation())).mapToLong(Item::bytes).sum();
        long without = common + items.stream().filter(i -> Boolean.FALSE.equals(i.recomputation())).mapToLong(Item::bytes).sum();
        return new MemoryPlan(items, with, without, allocator, seqLen);
    }

    /** What the recipe trains with: recomputation as the recipe sets it. */
    public long forRecipe(Recipe r) {
        return r.training().recomputeLayers(r.quantization().type()) ? withRecomputation : withoutRecomputation;
    }

    /**
     * The longest sequence (micro-batch rows of that many tokens) whose plan fits {@code budget}, up to the model's
     * max_position_embeddings; 0 when not even one token fits.
     */
    public static int maxSeqLen(ModelConfig c, Recipe r, Allocator allocator, long budget) {
        int lo = 0, hi = c.maxPositionEmbeddings();
        while (lo < hi) {
            int mid = lo + (hi - lo + 1) / 2;
            if (of(c, r, allocator, mid).forRecipe(r) <= budget) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /**
     * fp32 values autograd keeps in one layer's graph, and how many of them sit in tensors under glibc's mmap threshold.
     */
    record Activations(long bytes, long smallBytes) {
        /**
         * A whole layer over {@code rows x t} tokens, queries seeing {@code keys} keys, counted from Decoder's ops: two
         * RMSNorms (x², x/rms, output: 3h each), q and k through RoPE (rotated copy, x·cos, rotated·sin, sum: 4 each), v,
         * the grouped queries (q), attention scores / scaled / masked / softmax (4 per head and key), the attention output
         * with its transposed copy and o_proj output, two residual sums, the MLP's gate, up, sigmoid, silu and product
         * (5 × intermediate) and down output, and per LoRA-targeted projection its A output (r) plus B output and scaled
         * delta (2 × out).
         */
        static Activations ofLayer(ModelConfig c, long rows, long t, long keys, List<String> loraTargets, int r, boolean dropout) {
            long h = c.hiddenSize(), inter = c.intermediateSize();
            long q = (long) c.numHeads() * c.headDim(), kv = (long) c.numKvHeads() * c.headDim();
            Tally tally = new Tally(rows * t);
            tally.add(6, h).add(4, q).add(4, kv).add(1, kv).add(1, q).add(4, c.numHeads() * keys).add(3, q).add(2, h).add(5, inter).add(1, h);
            for (String p : loraTargets) lora(tally, c, Projection.byName(p).orElseThrow(), r, dropout);
            return tally.result();
        }

        /**
         * A layer rebuilt in pieces: what is held whole over the sequence at its fullest (during the tiles of o_proj and
         * the MLP: the input, the gradient from above, q, k, v, the attention output and the gradients gathered so far,
         * one concatenation's copy) plus the largest piece's graph (a tile of the per-token parts, or one block of
         * queries over all keys).
         */
        static Activations inPieces(ModelConfig c, long rows, long t, Decoder.Blocks b, List<String> loraTargets, int r, boolean dropout) {
            long h = c.hiddenSize(), inter = c.intermediateSize();
            long q = (long) c.numHeads() * c.headDim(), kv = (long) c.numKvHeads() * c.headDim();
            Tally held = new Tally(rows * t).add(4, q).add(4, kv).add(4, h);
            Tally rest = new Tally(rows * b.tokenTile()).add(6, h).add(5, inter).add(2, h);
            Tally qkv = new Tally(rows * b.tokenTile()).add(3, h).add(4, q).add(5, kv);
            for (String p : loraTargets) {
                Projection kind = Projection.byName(p).orElseThrow();
                Tally piece = kind == Projection.Q || kind == Projection.K || kind == Projection.V ? qkv : rest;
                lora(piece, c, kind, r, dropout);
            }
            Tally attention = new Tally(rows * b.queryBlock()).add(4, c.numHeads() * t).add(3, q);
            Activations largest = List.of(rest.result(), qkv.result(), attention.result()).stream()
                    .max(java.util.Comparator.comparingLong(Activations::bytes)).orElseThrow();
            Activations whole = held.result();
            return new Activations(whole.bytes() + largest.bytes(), whole.smallBytes() + largest.smallBytes());
        }
    }

    /**
     * A LoRA pair's tensors per token: A's output and its scaled copy (r each), B's output (out); with dropout, the
     * dropped-out input (in) and its mask (a byte per value).
     */
    private static void lora(Tally tally, ModelConfig c, Projection kind, int r, boolean dropout) {
        tally.add(2, r).add(1, kind.out(c));
        if (dropout) tally.add(1, kind.in(c)).addBytes(1, kind.in(c));
    }

    /** Adds up fp32 tensors of {@code tokens} rows by width, noting those small enough to stay in malloc's heap. */
    private static final class Tally {
        private final long tokens;
        private long bytes, small;

        Tally(long tokens) { this.tokens = tokens; }

        Tally add(long count, long width) {
            return addBytes(count, width * F32);
        }

        Tally addBytes(long count, long bytesPerToken) {
            long one = tokens * bytesPerToken;
            bytes += count * one;
            if (one < MMAP_THRESHOLD) small += count * one;
            return this;
        }

        Activations result() { return new Activations(bytes, small); }
    }

    private static String dtype(long bytes) {
        return bytes == F32 ? "fp32" : "half";
    }

    public static String gb(long bytes) {
        return String.format("%.1f GB", bytes / 1e9);
    }
}
