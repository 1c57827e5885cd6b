package dev.loraworkbench.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Embedding;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.util.Arrays;

/**
 * The Qwen2 / Llama / Mistral decoder as plain functions over NDArrays, the same math as
 * transformers' eager implementation: embeddings, RMSNorm in fp32, rotate-half RoPE, GQA attention
 * with a causal + padding mask, SwiGLU MLP, tied or untied lm_head. Each projection is a {@link Linear} bound when
 * the model was built (dense, 4-bit, or wrapped by an adapter): the decoder does not know which.
 *
 * <p>Every array created here lands in the manager of the input ids (the caller's step scope):
 * the frozen weights are only ever second operands.
 */
public final class Decoder {
    private static final float MASKED = -1e9f;

    private final ModelConfig config;
    private final DecoderWeights weights;

    public Decoder(ModelConfig config, DecoderWeights weights) {
        this.config = config;
        this.weights = weights;
    }

    public ModelConfig config() { return config; }

    public DecoderWeights weights() { return weights; }

    /**
     * @param ids token ids [B, T] (INT64), right-padded
     * @param lengths real (unpadded) length of each row
     * @param training a training forward (adapters apply dropout)
     * @return logits [B, T, vocab]
     */
    public NDArray logits(NDArray ids, int[] lengths, boolean training) {
        return logits(ids, context(ids, lengths), training);
    }

    /** As above, with the batch's context made by the caller (a packed batch's: see {@link #context(NDArray, int[][])}). */
    public NDArray logits(NDArray ids, Context ctx, boolean training) {
        return head(hidden(ids, ctx, training));                                // [B, T, V]
    }

    /** The last layer's output [B, T, H], before the final norm: what the loss takes, a chunk of positions at a time. */
    public NDArray hidden(NDArray ids, Context ctx, boolean training) {
        NDArray x = embed(ids);                                                 // [B, T, H]
        for (int i = 0; i < config.numLayers(); i++) x = layer(x, i, ctx, training);
        return x;
    }

    /** What every layer of one batch shares: RoPE tables and the attention mask. */
    public record Context(NDArray[] rope, NDArray mask) {}

    public Context context(NDArray ids, int[] lengths) {
        int seq = (int) ids.getShape().get(1);
        config.checkSequenceLength(seq);
        return new Context(ropeTables(ids.getManager(), 0, seq), attentionMask(ids.getManager(), lengths, seq));
    }

    /**
     * The context of a packed batch: row b holds examples of lengths {@code segments[b]} one after another (then padding).
     * Attention is causal within each example and never crosses into another (a block-diagonal mask), and positions
     * restart at 0 with each example: the row computes what each example computes alone, as transformers does for
     * packed rows given position_ids.
     */
    public Context context(NDArray ids, int[][] segments) {
        int rows = segments.length;
        int seq = (int) ids.getShape().get(1);
        int longest = 0;
        for (int[] row : segments) for (int length : row) longest = Math.max(longest, length);
        config.checkSequenceLength(longest);
        int[][] positions = new int[rows][seq];
        int[][] segmentOf = new int[rows][seq];
        for (int b = 0; b < rows; b++) {
            int t = 0;
            for (int s = 0; s < segments[b].length; s++) {
                for (int p = 0; p < segments[b][s]; p++, t++) {
                    positions[b][t] = p;
                    segmentOf[b][t] = s;
                }
            }
            for (; t < seq; t++) segmentOf[b][t] = -1; // padding: seen by no real token
        }
        return new Context(ropeTables(ids.getManager(), positions), segmentMask(ids.getManager(), segmentOf));
    }

    /**
     * Logits [1, 1, V] of the last of ids [1, t], which continue the sequence held in {@code cache}; its keys and
     * values grow by these t positions: prefill with the whole prompt, then one token per call. Only the last
     * position goes through the head (a 4k-token prompt's full logits would be 2.5 GB at a 152k vocabulary).
     */
    public NDArray logitsCached(NDArray ids, KvCache cache) {
        return logitsCached(ids, cache, new int[(int) ids.getShape().get(0)]);
    }

    /**
     * As above for a batch [B, t] of left-padded rows decoded in lockstep: row b's first {@code leftPad[b]} positions
     * (of the cache and these ids) are padding that no query attends to, and its positions count from its first real
     * token, as transformers' generate derives position_ids from the attention mask. Gives logits [B, 1, V].
     */
    public NDArray logitsCached(NDArray ids, KvCache cache, int[] leftPad) {
        int t = (int) ids.getShape().get(1);
        int offset = cache.length();
        config.checkSequenceLength(offset + t);
        NDManager m = ids.getManager();
        NDArray[] rope = ropeTables(m, offset, t, leftPad);
        NDArray mask = cachedMask(m, offset, t, leftPad);
        NDArray x = embed(ids);
        for (int i = 0; i < config.numLayers(); i++) x = layer(x, i, rope, mask, false, cache);
        cache.advance(t);
        return head(x.get(":, -1:, :"));
    }

    /** Keys and values of every layer so far, after RoPE and before the GQA expansion: [1, nKV, T, D] each. */
    public static final class KvCache implements AutoCloseable {
        private final NDManager manager;
        private final NDArray[] keys;
        private final NDArray[] values;
        private int length;

        public KvCache(NDManager parent, int layers) {
            this.manager = parent.newSubManager();
            this.keys = new NDArray[layers];
            this.values = new NDArray[layers];
        }

        public int length() { return length; }

        /** Arrays the cache holds: two per layer once filled (anything more is a leak). */
        public int liveArrays() { return manager.getManagedArrays().size(); }

        /** Appends this call's k or v to the layer's cache (kept in the cache's own manager) and returns the whole sequence's. */
        private NDArray append(NDArray[] store, int layer, NDArray fresh) {
            NDArray all = store[layer] == null ? fresh.duplicate() : store[layer].concat(fresh, 2);
            all.attach(manager);
            if (store[layer] != null) store[layer].close();
            store[layer] = all;
            return all;
        }

        private void advance(int t) { length += t; }

        /** Keeps the first n positions (a conversation that parts from what the cache holds at position n). */
        public void truncate(int n) {
            if (n >= length) return;
            for (NDArray[] store : new NDArray[][] {keys, values}) {
                for (int layer = 0; layer < store.length; layer++) {
                    if (store[layer] == null) continue;
                    NDArray kept = null;
                    if (n > 0) {
                        try (NDArray view = store[layer].get(":, :, :" + n + ", :")) {
                            kept = view.duplicate();
                        }
                        kept.attach(manager);
                    }
                    store[layer].close();
                    store[layer] = kept;
                }
            }
            length = n;
        }

        @Override
        public void close() { manager.close(); }
    }

    /** Token embeddings [B, T, H]. */
    public NDArray embed(NDArray ids) {
        NDArray rows = Embedding.embedding(ids, weights.embedTokens(), SparseFormat.DENSE).singletonOrThrow();
        // a half-stored table is frozen (full training keeps fp32): its rows need no graph, just the residual stream's fp32
        return rows.getDataType() == DataType.FLOAT32 ? rows : rows.toType(DataType.FLOAT32, false);
    }

    /** Final norm and lm_head: logits [..., V] from the last layer's output [..., H]. */
    public NDArray head(NDArray x) {
        return FrozenLinear.matmul(rmsNorm(x, weights.finalNorm()), weights.lmHead(), null); // fp32 logits from an fp32 or half lm_head
    }

    /** One decoder layer: x + attention(norm(x)), then + mlp(norm(.)). */
    public NDArray layer(NDArray x, int i, Context ctx, boolean training) {
        return layer(x, i, ctx.rope(), ctx.mask(), training);
    }

    private NDArray layer(NDArray x, int i, NDArray[] rope, NDArray mask, boolean training) {
        return layer(x, i, rope, mask, training, null);
    }

    private NDArray layer(NDArray x, int i, NDArray[] rope, NDArray mask, boolean training, KvCache cache) {
        DecoderWeights.Layer w = weights.layers().get(i);
        x = x.add(attention(rmsNorm(x, w.inputNorm()), w, i, rope, mask, training, cache));
        return x.add(mlp(rmsNorm(x, w.postNorm()), w, training));
    }

    private NDArray attention(NDArray h, DecoderWeights.Layer w, int i, NDArray[] rope, NDArray mask, boolean training, KvCache cache) {
        long b = h.getShape().get(0);
        long t = h.getShape().get(1);
        int d = config.headDim();
        NDArray q = w.q().apply(h, training).reshape(b, t, config.numHeads(), d).transpose(0, 2, 1, 3);   // [B, nH, T, D]
        NDArray k = w.k().apply(h, training).reshape(b, t, config.numKvHeads(), d).transpose(0, 2, 1, 3); // [B, nKV, T, D]
        NDArray v = w.v().apply(h, training).reshape(b, t, config.numKvHeads(), d).transpose(0, 2, 1, 3);
        q = applyRope(q, rope);
        k = applyRope(k, rope);
        if (cache != null) {
            k = cache.append(cache.keys, i, k);     // [B, nKV, cached + T, D]
            v = cache.append(cache.values, i, v);
            // results land in the first operand's manager: lend the cached arrays to this step's scope, or every
            // GQA copy and transpose derived from them would pile up in the cache until generation ends
            h.getManager().tempAttachAll(k, v);
        }
        int groups = config.numHeads() / config.numKvHeads();
        if (groups > 1) {
            k = repeatKv(k, groups);
            v = repeatKv(v, groups);
        }
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).mul(Tensors.scalar(h.getManager(), 1.0 / Math.sqrt(d))).add(mask); // [B, nH, T, T]
        NDArray out = scores.softmax(3).matMul(v);                                               // [B, nH, T, D]
        out = out.transpose(0, 2, 1, 3).reshape(b, t, (long) config.numHeads() * d);             // [B, T, nH*D]
        return w.o().apply(out, training);
    }

    /**
     * HF repeat_kv: each kv head serves {@code groups} consecutive query heads. Expand + reshape as in
     * transformers: its backward is a plain sum, where repeat_interleave's (index_add) made whole training
     * steps ~1.6x slower on CPU.
     */
    private static NDArray repeatKv(NDArray x, int groups) {
        Shape s = x.getShape(); // [B, nKV, T, D]
        return x.expandDims(2)
                .broadcast(new Shape(s.get(0), s.get(1), groups, s.get(2), s.get(3)))
                .reshape(s.get(0), s.get(1) * groups, s.get(2), s.get(3)); // [B, nKV*groups, T, D]
    }

    private static NDArray mlp(NDArray h, DecoderWeights.Layer w, boolean training) {
        NDArray gate = w.gate().apply(h, training);
        NDArray up = w.up().apply(h, training);
        NDArray act = gate.mul(Activation.sigmoid(gate)).mul(up); // silu(gate) * up
        return w.down().apply(act, training);
    }

    /** x / sqrt(mean(x²) + eps) · w, in fp32. */
    private NDArray rmsNorm(NDArray x, NDArray w) {
        int last = x.getShape().dimension() - 1;
        NDArray rms = x.square().mean(new int[] {last}, true).add(Tensors.scalar(x.getManager(), config.rmsNormEps())).sqrt();
        return x.div(rms).mul(w);
    }

    /** cos and sin tables [1, 1, T, D] for positions offset.., in HF's layout (frequencies repeated for the two halves). */
    private NDArray[] ropeTables(NDManager m, int offset, int seq) {
        return ropeTables(m, offset, seq, new int[1]);
    }

    /** As above, [B, 1, T, D]: row b's positions start at its first real token (padding gets position 0). */
    private NDArray[] ropeTables(NDManager m, int offset, int seq, int[] leftPad) {
        int[][] positions = new int[leftPad.length][seq];
        for (int b = 0; b < leftPad.length; b++) {
            for (int pos = 0; pos < seq; pos++) positions[b][pos] = Math.max(0, offset + pos - leftPad[b]);
        }
        return ropeTables(m, positions);
    }

    /** cos and sin tables [B, 1, T, D] for the position of every token of every row. */
    private NDArray[] ropeTables(NDManager m, int[][] positions) {
        double[] inv = config.inverseFrequencies();
        int d = config.headDim();
        int half = d / 2;
        int rows = positions.length;
        int seq = positions[0].length;
        float[] cos = new float[rows * seq * d];
        float[] sin = new float[rows * seq * d];
        for (int b = 0; b < rows; b++) {
            for (int pos = 0; pos < seq; pos++) {
                int at = (b * seq + pos) * d;
                int position = positions[b][pos];
                for (int j = 0; j < half; j++) {
                    double angle = (double) position * inv[j];
                    float c = (float) Math.cos(angle);
                    float s = (float) Math.sin(angle);
                    cos[at + j] = c;
                    cos[at + j + half] = c;
                    sin[at + j] = s;
                    sin[at + j + half] = s;
                }
            }
        }
        Shape shape = new Shape(rows, 1, seq, d);
        return new NDArray[] {Tensors.of(m, cos, shape), Tensors.of(m, sin, shape)};
    }

    /** x·cos + rotate_half(x)·sin, with rotate_half(x) = [-x2, x1]. */
    private NDArray applyRope(NDArray x, NDArray[] rope) {
        int half = config.headDim() / 2;
        NDArray x1 = x.get(":, :, :, :" + half);
        NDArray x2 = x.get(":, :, :, " + half + ":");
        NDArray rotated = x2.neg().concat(x1, 3);
        return x.mul(rope[0]).add(rotated.mul(rope[1]));
    }

    /** Additive mask [B, 1, T, T]: 0 where query i may see key j (j <= i and j is not padding), a large negative elsewhere. */
    private static NDArray attentionMask(NDManager m, int[] lengths, int seq) {
        float[] mask = new float[lengths.length * seq * seq];
        for (int b = 0; b < lengths.length; b++) {
            for (int i = 0; i < seq; i++) {
                for (int j = 0; j < seq; j++) {
                    boolean visible = j <= i && j < lengths[b];
                    mask[(b * seq + i) * seq + j] = visible ? 0f : MASKED;
                }
            }
        }
        return Tensors.of(m, mask, new Shape(lengths.length, 1, seq, seq));
    }

    /**
     * Additive mask [B, 1, T, T] of packed rows: query i sees key j when j <= i and both belong to the same example
     * ({@code segmentOf} -1 marks padding, which sees only itself so that no row of the softmax is empty).
     */
    private static NDArray segmentMask(NDManager m, int[][] segmentOf) {
        int rows = segmentOf.length;
        int seq = segmentOf[0].length;
        float[] mask = new float[rows * seq * seq];
        Arrays.fill(mask, MASKED);
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < seq; i++) {
                int row = (b * seq + i) * seq;
                if (segmentOf[b][i] < 0) {
                    mask[row + i] = 0f;
                    continue;
                }
                for (int j = i; j >= 0 && segmentOf[b][j] == segmentOf[b][i]; j--) mask[row + j] = 0f;
            }
        }
        return Tensors.of(m, mask, new Shape(rows, 1, seq, seq));
    }

    /**
     * Additive mask [B, 1, T, offset + T]: query i (column offset + i) sees every cached key and the new ones up to
     * itself, except row b's first leftPad[b] columns (padding).
     */
    private static NDArray cachedMask(NDManager m, int offset, int seq, int[] leftPad) {
        int keys = offset + seq;
        float[] mask = new float[leftPad.length * seq * keys];
        for (int b = 0; b < leftPad.length; b++) {
            for (int i = 0; i < seq; i++) {
                int row = (b * seq + i) * keys;
                for (int j = 0; j < Math.min(leftPad[b], keys); j++) mask[row + j] = MASKED;
                for (int j = offset + i + 1; j < keys; j++) mask[row + j] = MASKED;
            }
        }
        return Tensors.of(m, mask, new Shape(leftPad.length, 1, seq, keys));
    }
}
