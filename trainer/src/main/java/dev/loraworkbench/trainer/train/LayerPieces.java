package dev.loraworkbench.trainer.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.loraworkbench.trainer.model.Decoder;

/**
 * Recomputation of a layer too long to rebuild in one graph (a 32k-token sequence: attention scores of 40 heads x 32k
 * x 32k, an MLP 27,648 wide per token). The layer is run as pieces, each with a graph of its own that is freed as soon
 * as it is back-propagated: the per-token parts (norm, q/k/v projections and RoPE; then o_proj, the second norm and the
 * MLP) over tiles of tokens, attention over blocks of queries. Backward goes through the pieces in reverse, each piece
 * recomputed from the pieces' outputs of a forward without graph; only tensors of T x hidden size are held whole.
 * Dropout is reseeded per piece the same way in the forward and in the backward, so both see the same masks.
 */
final class LayerPieces {
    private final Decoder decoder;
    private final Decoder.Context ctx;
    private final Engine engine;
    private final int tile;

    LayerPieces(Decoder decoder, Decoder.Context ctx, Engine engine) {
        this.decoder = decoder;
        this.ctx = ctx;
        this.engine = engine;
        this.tile = decoder.tokenTile(ctx.rows(), ctx.seqLen());
    }

    /** Whether a layer of this batch must be cut: its scores or MLP would exceed the decoder's block sizes whole. */
    static boolean needed(Decoder decoder, Decoder.Context ctx) {
        return decoder.queryBlock(ctx.rows(), ctx.seqLen()) < ctx.seqLen() || decoder.tokenTile(ctx.rows(), ctx.seqLen()) < ctx.seqLen();
    }

    /** Layer i's output without a graph, in the manager of x. */
    NDArray forward(NDArray x, int i, int seed) {
        NDManager m = x.getManager();
        Decoder decoder = this.decoder.withLayerMaterialized(i, m); // 4-bit weights dequantized once for all the tiles
        Decoder.Qkv a = qkv(decoder, x, i, seed);
        NDArray attn = decoder.attention(a, ctx);
        NDList out = new NDList();
        for (int from = 0; from < ctx.seqLen(); from += tile) {
            try (NDManager piece = m.newSubManager()) {
                NDArray xs = tokens(x, from);
                xs.attach(piece); // the tile's temporaries land in the piece's scope, freed after it
                engine.setRandomSeed(seed(seed, i, from, 2));
                out.add(keep(decoder.rest(xs, tokens(attn, from), i, true), m));
            }
        }
        return concat(out, 1);
    }

    /**
     * dL/dx of layer i given dL/dy ({@code upstream}); the gradients of trained weights accumulate as usual. Runs outside
     * any gradient collector: it opens one per piece.
     */
    NDArray backward(NDArray x, NDArray upstream, int i, int seed) {
        NDManager m = x.getManager();
        Decoder decoder = this.decoder.withLayerMaterialized(i, m);
        Decoder.Qkv a = qkv(decoder, x, i, seed);
        NDArray attn = decoder.attention(a, ctx);

        // o_proj + MLP, tile by tile: the gradient of x along the residual path, and of the attention output
        NDList dxDirect = new NDList();
        NDList dAttn = new NDList();
        for (int from = 0; from < ctx.seqLen(); from += tile) {
            try (NDManager piece = m.newSubManager(); GradientCollector collector = engine.newGradientCollector()) {
                NDArray xl = leaf(tokens(x, from), piece);
                NDArray al = leaf(tokens(attn, from), piece);
                engine.setRandomSeed(seed(seed, i, from, 2));
                NDArray y = decoder.rest(xl, al, i, true);
                JniUtils.backward((PtNDArray) y, (PtNDArray) tokens(upstream, from), false, false);
                dxDirect.add(keep(xl.getGradient(), m));
                dAttn.add(keep(al.getGradient(), m));
            }
        }
        NDArray gradAttn = concat(dAttn, 1);
        attn.close();

        // attention, block by block of queries: keys and values are leaves whose gradients add up over the blocks
        NDArray kl = a.k().duplicate();
        NDArray vl = a.v().duplicate();
        a.k().close();
        a.v().close();
        kl.setRequiresGradient(true);
        vl.setRequiresGradient(true);
        int block = decoder.queryBlock(ctx.rows(), ctx.seqLen());
        NDArray gradQ = a.q().zerosLike(); // written block by block: nothing kept between the blocks' temporaries
        for (int from : Decoder.blockStartsLastFirst(ctx.seqLen(), block)) { // largest first: see there
            int to = Math.min(ctx.seqLen(), from + block);
            try (NDManager piece = m.newSubManager(); GradientCollector collector = engine.newGradientCollector()) {
                piece.tempAttachAll(kl, vl); // what the block derives from them (GQA copies) lands in the piece's scope
                NDArray ql = leaf(a.q().get(":, :, " + from + ":" + to + ", :"), piece);
                NDArray out = decoder.attend(ql, kl, vl, ctx, from);
                JniUtils.backward((PtNDArray) out, (PtNDArray) gradAttn.get(":, " + from + ":" + to + ", :"), false, false);
                gradQ.set(new NDIndex(":, :, " + from + ":" + to + ", :"), ql.getGradient());
            }
        }
        gradAttn.close();
        a.q().close();
        NDArray gradK = kl.getGradient();
        NDArray gradV = vl.getGradient();

        // norm, q/k/v projections and RoPE, tile by tile: their gradient of x joins the residual path's
        NDList dx = new NDList();
        for (int from = 0, t = 0; from < ctx.seqLen(); from += tile, t++) {
            try (NDManager piece = m.newSubManager(); GradientCollector collector = engine.newGradientCollector()) {
                NDArray xl = leaf(tokens(x, from), piece);
                engine.setRandomSeed(seed(seed, i, from, 1));
                Decoder.Qkv p = decoder.qkv(xl, i, ctx, from, true);
                String rows = ":, :, " + from + ":" + Math.min(ctx.seqLen(), from + tile) + ", :";
                // one backward for three outputs: d/dq of sum(q * dq) is dq
                NDArray joined = p.q().mul(gradQ.get(rows)).sum().add(p.k().mul(gradK.get(rows)).sum()).add(p.v().mul(gradV.get(rows)).sum());
                collector.backward(joined);
                dx.add(keep(xl.getGradient().add(dxDirect.get(t)), m));
                dxDirect.get(t).close();
            }
        }
        return concat(dx, 1);
    }

    /** q, k, v of every position without a graph, tile by tile. */
    private Decoder.Qkv qkv(Decoder decoder, NDArray x, int i, int seed) {
        NDManager m = x.getManager();
        NDList q = new NDList(), k = new NDList(), v = new NDList();
        for (int from = 0; from < ctx.seqLen(); from += tile) {
            try (NDManager piece = m.newSubManager()) {
                NDArray xs = tokens(x, from);
                xs.attach(piece);
                engine.setRandomSeed(seed(seed, i, from, 1));
                Decoder.Qkv a = decoder.qkv(xs, i, ctx, from, true);
                q.add(keep(a.q(), m));
                k.add(keep(a.k(), m));
                v.add(keep(a.v(), m));
            }
        }
        return new Decoder.Qkv(concat(q, 2), concat(k, 2), concat(v, 2));
    }

    /** Positions from..from+tile of a [B, T, ...] tensor. */
    private NDArray tokens(NDArray x, int from) {
        return x.get(":, " + from + ":" + Math.min(ctx.seqLen(), from + tile));
    }

    /** A copy of {@code x} in {@code scope} that requires gradient: where a piece's graph starts. */
    private static NDArray leaf(NDArray x, NDManager scope) {
        NDArray leaf = x.duplicate();
        leaf.attach(scope);
        leaf.setRequiresGradient(true);
        return leaf;
    }

    /** A copy of a piece's result (or gradient) that outlives the piece's scope. */
    private static NDArray keep(NDArray x, NDManager outer) {
        NDArray copy = x.duplicate();
        copy.attach(outer);
        return copy;
    }

    /** The parts joined along {@code axis}; the parts are closed (one copy of the whole is enough). */
    private static NDArray concat(NDList parts, int axis) {
        if (parts.size() == 1) return parts.get(0);
        NDArray whole = NDArrays.concat(parts, axis);
        parts.close();
        return whole;
    }

    /** A seed per layer, tile and piece (1: q/k/v, 2: the rest), the same in the forward and in the backward. */
    private static int seed(int seed, int layer, int from, int piece) {
        return seed + 7919 * layer + 104_729 * piece + from;
    }
}
