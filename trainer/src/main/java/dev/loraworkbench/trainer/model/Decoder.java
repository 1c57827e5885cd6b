package dev.loraworkbench.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Embedding;
import dev.loraworkbench.trainer.tensor.Tensors;

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
    private final long scoreFloats;
    private final long activationFloats;

    public Decoder(ModelConfig config, DecoderWeights weights) {
        this(config, weights, SCORE_FLOATS, ACTIVATION_FLOATS);
    }

    private Decoder(ModelConfig config, DecoderWeights weights, long scoreFloats, long activationFloats) {
        this.config = config;
        this.weights = weights;
        this.scoreFloats = scoreFloats;
        this.activationFloats = activationFloats;
    }

    /**
     * The same model with layer i's projections dequantized once into {@code scope} (freed with it): for a layer that is
     * run as many pieces, each of which would otherwise dequantize its 4-bit weights again.
     */
    public Decoder withLayerMaterialized(int i, NDManager scope) {
        return new Decoder(config, weights.withLayer(i, weights.layers().get(i).materialize(scope)), scoreFloats, activationFloats);
    }

    /** The same model with other sizes for attention blocks and token tiles (tests cut short sequences into many). */
    public Decoder withBlockSizes(long scoreFloats, long activationFloats) {
        return new Decoder(config, weights, scoreFloats, activationFloats);
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

    /**
     * What every layer of one batch shares: RoPE tables [B, 1, T, D] and which example each position belongs to
     * ({@code segmentOf[b][t]}, -1 for padding), from which each block of queries gets its mask when it needs it: a
     * whole [B, 1, T, T] mask is 4.3 GB at 32k tokens.
     */
    public record Context(NDArray[] rope, int[][] segmentOf) {
        public int rows() { return segmentOf.length; }

        public int seqLen() { return segmentOf[0].length; }

        /**
         * Additive mask [B, 1, to - from, to] in {@code m}: query i sees key j when j <= i and both belong to the same
         * example; a padding query sees only itself, so that no row of the softmax is empty. Keys past {@code to} are
         * never seen by these queries (causal), so they are left out.
         */
        NDArray mask(NDManager m, int from, int to) {
            int rows = rows(), seq = seqLen(), n = to - from;
            long[] queries = new long[rows * n];
            long[] keys = new long[rows * to];
            for (int b = 0; b < rows; b++) {
                for (int i = 0; i < n; i++) queries[b * n + i] = segmentOf[b][from + i];
                for (int j = 0; j < to; j++) keys[b * to + j] = segmentOf[b][j];
            }
            NDArray segQ = Tensors.of(m, queries, new Shape(rows, 1, n, 1));
            NDArray segK = Tensors.of(m, keys, new Shape(rows, 1, 1, to));
            NDArray q = m.arange(from, to).reshape(1, 1, n, 1);
            NDArray k = m.arange(0, to).reshape(1, 1, 1, to);
            NDArray visible = k.lte(q).logicalAnd(segK.eq(segQ)).logicalAnd(segQ.gte(0).logicalOr(k.eq(q)));
            return visible.toType(DataType.FLOAT32, false).sub(1f).mul(-MASKED); // 0 where visible, MASKED elsewhere
        }
    }

    public Context context(NDArray ids, int[] lengths) {
        int seq = (int) ids.getShape().get(1);
        config.checkSequenceLength(seq);
        int[][] segmentOf = new int[lengths.length][seq];
        for (int b = 0; b < lengths.length; b++) {
            for (int t = 0; t < seq; t++) segmentOf[b][t] = t < lengths[b] ? 0 : -1;
        }
        return new Context(ropeTables(ids.getManager(), 0, seq), segmentOf);
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
        return new Context(ropeTables(ids.getManager(), positions), segmentOf);
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
        for (int i = 0; i < config.numLayers(); i++) x = layer(x, i, rope, mask, cache);
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

    /**
     * One decoder layer: x + attention(norm(x)), then + mlp(norm(.)). Attention goes over blocks of queries (each sees
     * keys up to its last row), so its scores never exceed {@link #SCORE_FLOATS} however long the sequence.
     */
    public NDArray layer(NDArray x, int i, Context ctx, boolean training) {
        Qkv a = qkv(x, i, ctx, 0, training);
        return rest(x, attention(a, ctx), i, training);
    }

    /** Query rows of one attention block: as many as keep its scores [B, nH, rows, T] within the block size. */
    public int queryBlock(int rows, int seq) {
        return blocks(config, rows, seq, scoreFloats, activationFloats).queryBlock();
    }

    /** Tokens of one tile of the per-token pieces (norms, projections, MLP) for a recomputed layer cut in pieces. */
    public int tokenTile(int rows, int seq) {
        return blocks(config, rows, seq, scoreFloats, activationFloats).tokenTile();
    }

    /** Logits per chunk of positions through the head when computing the loss (64 MB per fp32 buffer). */
    public static final long LOGIT_FLOATS = 1L << 24;

    /** Positions per loss chunk: as many as fit {@link #LOGIT_FLOATS} at this vocabulary (110 at Qwen2's 152,064), at least one. */
    public static int headChunk(ModelConfig c) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, LOGIT_FLOATS / Math.max(1, c.vocabSize())));
    }

    public int headChunk() { return headChunk(config); }

    /**
     * Attention scores per block (64 MB per fp32 buffer): 204 queries of a 32B's 40 heads over 2048 keys. It also decides
     * whether a recomputed layer is rebuilt in pieces (when a whole layer's scores exceed it).
     */
    public static final long SCORE_FLOATS = 1L << 24;
    /**
     * On a CPU, the forward's attention goes in blocks of at most 16 MB of scores: under glibc's largest mmap threshold
     * (32 MB), so each block's scores, softmax and their gradients reuse freed heap memory. Larger blocks are mmap'd and
     * unmapped on every allocation, and page-faulted in afresh (the ~135M preset at 4 x 512 tokens has 67 MB of scores a
     * layer: in 16 MB blocks, a 3-step bench spent 16 s in the kernel instead of 31 s).
     */
    public static final long CPU_SCORE_FLOATS = 1L << 22;
    /** Activations per token tile (64 MB per buffer): 606 tokens of a 32B's 27,648-wide MLP. */
    public static final long ACTIVATION_FLOATS = 1L << 24;

    /**
     * How a batch of {@code rows x seq} is cut: query rows per attention block, tokens per tile, and whether a
     * recomputed layer has to be rebuilt in pieces (either is shorter than the sequence).
     */
    public record Blocks(int queryBlock, int tokenTile) {
        public boolean cut(int seq) { return queryBlock < seq || tokenTile < seq; }
    }

    public static Blocks blocks(ModelConfig c, int rows, int seq, long scoreFloats, long activationFloats) {
        long perQuery = (long) rows * c.numHeads() * seq;
        long perToken = (long) rows * Math.max(c.intermediateSize(), c.hiddenSize());
        return new Blocks((int) Math.min(seq, Math.max(1, scoreFloats / perQuery)), (int) Math.min(seq, Math.max(1, activationFloats / perToken)));
    }

    /** A layer's queries [B, nH, t, D], keys and values [B, nKV, t, D], after RoPE, before the GQA expansion. */
    public record Qkv(NDArray q, NDArray k, NDArray v) {}

    /** The first piece of layer i: input norm, q/k/v projections and RoPE of positions from.. of x (x holds only those). */
    public Qkv qkv(NDArray x, int i, Context ctx, int from, boolean training) {
        DecoderWeights.Layer w = weights.layers().get(i);
        NDArray h = rmsNorm(x, w.inputNorm());
        long b = h.getShape().get(0);
        long t = h.getShape().get(1);
        int d = config.headDim();
        NDArray[] rope = ctx.rope();
        if (from != 0 || t != ctx.seqLen()) {
            String rows = ":, :, " + from + ":" + (from + t) + ", :";
            rope = new NDArray[] {rope[0].get(rows), rope[1].get(rows)};
        }
        NDArray q = w.q().apply(h, training).reshape(b, t, config.numHeads(), d).transpose(0, 2, 1, 3);   // [B, nH, t, D]
        NDArray k = w.k().apply(h, training).reshape(b, t, config.numKvHeads(), d).transpose(0, 2, 1, 3); // [B, nKV, t, D]
        NDArray v = w.v().apply(h, training).reshape(b, t, config.numKvHeads(), d).transpose(0, 2, 1, 3);
        return new Qkv(applyRope(q, rope), applyRope(k, rope), v);
    }

    /**
     * Attention of every position, [B, T, nH*D], a block of queries at a time. Each block runs in a scope of its own that
     * is closed after it: without a graph its scores are freed at once; with one, autograd keeps what backward needs.
     */
    public NDArray attention(Qkv a, Context ctx) {
        int seq = ctx.seqLen();
        long budget = weights.embedTokens().getDevice().isGpu() ? scoreFloats : Math.min(scoreFloats, CPU_SCORE_FLOATS); // see CPU_SCORE_FLOATS
        int block = blocks(config, ctx.rows(), seq, budget, activationFloats).queryBlock();
        NDManager m = a.q().getManager();
        int[] starts = blockStartsLastFirst(seq, block);
        // without a graph, the blocks' outputs are written into one tensor allocated before the loop: outputs kept
        // block by block would sit between the blocks' freed scores in glibc's heap (see blockStartsLastFirst)
        boolean concatenate = starts.length == 1 || a.q().hasGradient() || a.k().hasGradient() || a.v().hasGradient();
        NDArray whole = concatenate ? null : m.zeros(new Shape(ctx.rows(), seq, (long) config.numHeads() * config.headDim()), a.q().getDataType());
        NDArray[] parts = new NDArray[starts.length];
        for (int j = 0; j < starts.length; j++) {
            int from = starts[j];
            int to = Math.min(seq, from + block);
            try (NDManager scope = m.newSubManager()) {
                NDArray q = Tensors.narrow(a.q(), 2, from, to);
                if (q == a.q()) q.tempAttach(scope); // one block: the queries themselves, lent to the scope
                else q.attach(scope);
                scope.tempAttachAll(a.k(), a.v()); // their GQA copies land in the block's scope too
                NDArray out = attend(q, a.k(), a.v(), ctx, from);
                if (concatenate) {
                    out.attach(m);
                    parts[starts.length - 1 - j] = out;
                } else {
                    whole.set(new NDIndex(":, " + from + ":" + to + ", :"), out);
                }
            }
        }
        if (!concatenate) return whole;
        if (parts.length == 1) return parts[0];
        NDList inOrder = new NDList(parts);
        NDArray joined = NDArrays.concat(inOrder, 1);
        inOrder.close(); // autograd keeps what it needs of them
        return joined;
    }

    /**
     * The first rows of the query blocks, last block first. A block's scores and key gradients grow with its last row:
     * in ascending order each block asks glibc for a little more than the one before freed, and the heap grew by
     * ~4.7 GB over the 161 blocks of a 32B layer at 8192 tokens. Largest first, later blocks fit in what it freed
     * (with nothing long-lived allocated between blocks: callers write block results into tensors made beforehand).
     */
    public static int[] blockStartsLastFirst(int seq, int block) {
        int n = (seq + block - 1) / block;
        int[] starts = new int[n];
        for (int j = 0; j < n; j++) starts[j] = (n - 1 - j) * block;
        return starts;
    }

    /**
     * Attention of the queries q [B, nH, n, D] at rows from.. over keys and values [B, nKV, T, D] (those up to the
     * block's last row are used): [B, n, nH*D], the input of o_proj for those rows.
     */
    public NDArray attend(NDArray q, NDArray k, NDArray v, Context ctx, int from) {
        long b = q.getShape().get(0);
        int n = (int) q.getShape().get(2);
        int to = from + n;
        int d = config.headDim();
        NDManager m = q.getManager();
        k = Tensors.narrow(k, 2, 0, to);
        v = Tensors.narrow(v, 2, 0, to);
        // GQA without copying keys and values per query head (HF's repeat_kv): the query heads a kv head serves are
        // stacked as rows, [B, nKV, groups * n, D], so one matmul per kv head covers them
        int kvHeads = config.numKvHeads();
        int groups = config.numHeads() / kvHeads;
        // the 1/sqrt(D) scale goes on the queries: on the scores it is a pass over a tensor T/D times larger, both ways
        NDArray grouped = q.reshape(b, kvHeads, (long) groups * n, d).mul(Tensors.scalar(m, 1.0 / Math.sqrt(d)));
        NDArray scores = grouped.matMul(k.transpose(0, 1, 3, 2))                                              // [B, nKV, groups*n, to]
                .reshape(b, kvHeads, groups, n, to).add(ctx.mask(m, from, to).expandDims(1));                // [B, nKV, groups, n, to]
        NDArray out = scores.softmax(4).reshape(b, kvHeads, (long) groups * n, to).matMul(v);                 // [B, nKV, groups*n, D]
        return out.reshape(b, config.numHeads(), n, d).transpose(0, 2, 1, 3).reshape(b, n, (long) config.numHeads() * d); // [B, n, nH*D]
    }

    /** The rest of layer i, position by position: x + o_proj(attn), then + mlp(norm(.)). */
    public NDArray rest(NDArray x, NDArray attn, int i, boolean training) {
        DecoderWeights.Layer w = weights.layers().get(i);
        x = x.add(w.o().apply(attn, training));
        return x.add(mlp(rmsNorm(x, w.postNorm()), w, training));
    }

    /** A layer of the cached path (generation): keys and values of earlier positions come from the cache. */
    private NDArray layer(NDArray x, int i, NDArray[] rope, NDArray mask, KvCache cache) {
        DecoderWeights.Layer w = weights.layers().get(i);
        x = x.add(attention(rmsNorm(x, w.inputNorm()), w, i, rope, mask, false, cache));
        return x.add(mlp(rmsNorm(x, w.postNorm()), w, false));
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
        k = cache.append(cache.keys, i, k);     // [B, nKV, cached + T, D]
        v = cache.append(cache.values, i, v);
        // results land in the first operand's manager: lend the cached arrays to this step's scope, or every
        // GQA copy and transpose derived from them would pile up in the cache until generation ends
        h.getManager().tempAttachAll(k, v);
        int groups = config.numHeads() / config.numKvHeads();
        if (groups > 1) {
            k = repeatKv(k, groups);
            v = repeatKv(v, groups);
        }
        NDArray scores = q.mul(Tensors.scalar(h.getManager(), 1.0 / Math.sqrt(d))).matMul(k.transpose(0, 1, 3, 2)).add(mask); // [B, nH, T, T]
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

    /**
     * cos and signed sin tables [1, 1, T, D] for positions offset.., in HF's layout (frequencies repeated for the two
     * halves); the sin table's first half is negated, as rotate_half negates it (see applyRope).
     */
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
                    sin[at + j] = -s; // the sign of rotate_half's first half (see applyRope)
                    sin[at + j + half] = s;
                }
            }
        }
        Shape shape = new Shape(rows, 1, seq, d);
        return new NDArray[] {Tensors.of(m, cos, shape), Tensors.of(m, sin, shape)};
    }

    /**
     * x·cos + rotate_half(x)·sin with rotate_half(x) = [-x2, x1], computed as x·cos + [x2, x1]·[-sin, sin]: the halves
     * are swapped by one flip and the sign lives in the table. Slicing x into halves cost, in backward, a zero-filled
     * full-size gradient per slice (DJL's get slices every axis): ~5 % of a training step of the ~135M preset.
     */
    private NDArray applyRope(NDArray x, NDArray[] rope) {
        Shape s = x.getShape(); // [B, heads, T, D]
        NDArray swapped = x.reshape(s.get(0), s.get(1), s.get(2), 2, s.get(3) / 2).flip(3).reshape(s);
        return x.mul(rope[0]).add(swapped.mul(rope[1]));
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
