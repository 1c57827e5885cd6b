package dev.loraworkbench.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.TensorInfo;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.LongConsumer;

/**
 * Frozen base weights of a decoder-only model in HF layout: norms as fp32 NDArrays, embeddings and lm_head in fp32 or,
 * with half-precision compute, in fp16 / bf16 (as bitsandbytes + PEFT keep them), and each layer's seven projections
 * as {@link Linear}s bound at load time (dense, 4-bit, or adapted from above).
 */
public record DecoderWeights(NDArray embedTokens, List<Layer> layers, NDArray finalNorm, NDArray lmHead) {

    public record Layer(NDArray inputNorm, Linear q, Linear k, Linear v, Linear o, NDArray postNorm, Linear gate, Linear up, Linear down) {
        public Linear projection(Projection p) {
            return switch (p) {
                case Q -> q;
                case K -> k;
                case V -> v;
                case O -> o;
                case GATE -> gate;
                case UP -> up;
                case DOWN -> down;
            };
        }

        /** The same layer with every projection {@link Linear#materialize materialized} into {@code scope}. */
        public Layer materialize(NDManager scope) {
            return with(p -> projection(p).materialize(scope));
        }

        Layer with(java.util.function.Function<Projection, Linear> projections) {
            return new Layer(inputNorm, projections.apply(Projection.Q), projections.apply(Projection.K), projections.apply(Projection.V),
                    projections.apply(Projection.O), postNorm, projections.apply(Projection.GATE), projections.apply(Projection.UP),
                    projections.apply(Projection.DOWN));
        }
    }

    /** Replaces a projection of a layer, given its layer index, kind and current binding. */
    @FunctionalInterface
    public interface Rebinding {
        Linear rebind(int layer, Projection kind, Linear current);
    }

    /** The same weights with every projection passed through {@code rebinding} (how an adapter wraps the base from above). */
    public DecoderWeights rebind(Rebinding rebinding) {
        List<Layer> out = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            int layer = i;
            Layer l = layers.get(i);
            out.add(l.with(p -> rebinding.rebind(layer, p, l.projection(p))));
        }
        return new DecoderWeights(embedTokens, List.copyOf(out), finalNorm, lmHead);
    }

    /** The same weights with layer i replaced. */
    public DecoderWeights withLayer(int i, Layer layer) {
        List<Layer> out = new ArrayList<>(layers);
        out.set(i, layer);
        return new DecoderWeights(embedTokens, List.copyOf(out), finalNorm, lmHead);
    }

    /** The tensor names the checkpoint must contain for this config. */
    public static Set<String> expectedNames(ModelConfig c, boolean qkvBias) {
        Set<String> names = new HashSet<>();
        names.add("model.embed_tokens.weight");
        names.add("model.norm.weight");
        if (!c.tieWordEmbeddings()) names.add("lm_head.weight");
        for (int i = 0; i < c.numLayers(); i++) {
            names.add("model.layers." + i + ".input_layernorm.weight");
            names.add("model.layers." + i + ".post_attention_layernorm.weight");
            for (Projection p : Projection.values()) {
                names.add(p.modulePath(i) + ".weight");
                if (qkvBias && p.hasBias(c)) names.add(p.modulePath(i) + ".bias");
            }
        }
        return names;
    }

    /** Loads every tensor into {@code manager}, widened to fp32, checking names and shapes against the config. */
    public static DecoderWeights load(HfCheckpoint ckpt, NDManager manager) {
        return load(ckpt, manager, LinearLoader.dense(manager, DataType.FLOAT32), DataType.FLOAT32, bytes -> { });
    }

    /**
     * Loads one tensor at a time: norms and biases fp32, embeddings and lm_head in {@code tableType}, the projections
     * as {@code linears} builds them.
     *
     * @param tableType FLOAT32, or the half type of the compute for frozen embeddings and lm_head (a 32B's two 152k x 5120
     *     tables: 6.2 GB in fp32, 3.1 GB in bf16)
     * @param progress told the stored size of each tensor once it is loaded (for a progress bar over minutes of loading)
     */
    public static DecoderWeights load(HfCheckpoint ckpt, NDManager manager, LinearLoader linears, DataType tableType, LongConsumer progress) {
        ModelConfig c = ckpt.config();
        // transformers zero-initialises a Qwen2 q/k/v bias the checkpoint lacks; accept a checkpoint with none at all
        boolean qkvBias = c.qkvBias() && ckpt.has("model.layers.0.self_attn.q_proj.bias");
        if (c.qkvBias() && !qkvBias) {
            System.err.println("note: " + ckpt.dir() + " has no q/k/v bias tensors; using zero biases as transformers does");
        }
        ckpt.checkNames(expectedNames(c, qkvBias));
        Loader l = new Loader(ckpt, manager, linears, progress, qkvBias);
        int h = c.hiddenSize();
        NDArray embed = l.table("model.embed_tokens.weight", tableType, c.vocabSize(), h);
        List<Layer> layers = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            layers.add(new Layer(
                    l.tensor(p + "input_layernorm.weight", h),
                    l.linear(i, Projection.Q),
                    l.linear(i, Projection.K),
                    l.linear(i, Projection.V),
                    l.linear(i, Projection.O),
                    l.tensor(p + "post_attention_layernorm.weight", h),
                    l.linear(i, Projection.GATE),
                    l.linear(i, Projection.UP),
                    l.linear(i, Projection.DOWN)));
        }
        NDArray norm = l.tensor("model.norm.weight", h);
        NDArray head = c.tieWordEmbeddings() ? embed : l.table("lm_head.weight", tableType, c.vocabSize(), h);
        return new DecoderWeights(embed, List.copyOf(layers), norm, head);
    }

    private record Loader(HfCheckpoint ckpt, NDManager manager, LinearLoader linears, LongConsumer progress, boolean qkvBias) {
        NDArray tensor(String name, long... shape) {
            NDArray a = Tensors.streamed(manager, new Shape(shape), reader(name, shape));
            a.setName(name);
            loaded(name);
            return a;
        }

        /** An embedding or lm_head table in {@code type} (read as fp32 in chunks, then cast: frozen, no graph). */
        NDArray table(String name, DataType type, long... shape) {
            NDArray a = tensor(name, shape);
            if (type == DataType.FLOAT32) return a;
            NDArray half = a.toType(type, false);
            half.setName(name);
            a.close();
            return half;
        }

        void loaded(String name) {
            TensorInfo info = ckpt.info(name);
            progress.accept(info.end() - info.begin());
        }

        /** Reads the stored tensor in ranges, after checking its shape against config.json. */
        Tensors.RangeReader reader(String name, long... shape) {
            TensorInfo info = ckpt.info(name);
            if (!Arrays.equals(info.shape(), shape)) {
                throw new CheckpointFormatException(ckpt.dir() + ": tensor '" + name + "' has shape "
                        + Arrays.toString(info.shape()) + " but config.json implies " + Arrays.toString(shape));
            }
            return (from, dst, count) -> ckpt.floats(name, from, dst, count);
        }

        Linear linear(int layer, Projection p) {
            ModelConfig c = ckpt.config();
            String module = p.modulePath(layer);
            NDArray bias = qkvBias && p.hasBias(c) ? tensor(module + ".bias", p.out(c)) : null;
            long[] shape = {p.out(c), p.in(c)};
            Linear linear = linears.load(module + ".weight", shape, reader(module + ".weight", shape), bias);
            loaded(module + ".weight");
            return linear;
        }
    }

    /**
     * Every tensor under its Hugging Face name, in checkpoint order (a tied lm_head once, as embed_tokens): the weights
     * full-parameter training updates and writes. Only for dense fp32 projections (4-bit or half ones cannot be trained).
     */
    public java.util.LinkedHashMap<String, NDArray> tensors() {
        var out = new java.util.LinkedHashMap<String, NDArray>();
        if (embedTokens.getDataType() != DataType.FLOAT32 || lmHead.getDataType() != DataType.FLOAT32) {
            throw new IllegalStateException("embeddings / lm_head are stored in " + lmHead.getDataType() + "; full-parameter training needs fp32 weights");
        }
        out.put("model.embed_tokens.weight", embedTokens);
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            String p = "model.layers." + i + ".";
            out.put(p + "input_layernorm.weight", layer.inputNorm());
            out.put(p + "post_attention_layernorm.weight", layer.postNorm());
            for (Projection kind : Projection.values()) {
                if (!(layer.projection(kind) instanceof FrozenLinear dense) || dense.weight().getDataType() != DataType.FLOAT32) {
                    throw new IllegalStateException(kind.modulePath(i) + " is not a dense fp32 projection; full-parameter training needs fp32 weights");
                }
                out.put(kind.modulePath(i) + ".weight", dense.weight());
                if (dense.bias() != null) out.put(kind.modulePath(i) + ".bias", dense.bias());
            }
        }
        out.put("model.norm.weight", finalNorm);
        if (lmHead != embedTokens) out.put("lm_head.weight", lmHead);
        return out;
    }

    /** Parameters of the base model (quantized ones counted as the weights they stand for). */
    public long parameterCount() {
        long n = embedTokens.size() + finalNorm.size() + (lmHead != embedTokens ? lmHead.size() : 0);
        for (Layer layer : layers) {
            n += layer.inputNorm().size() + layer.postNorm().size();
            for (Projection p : Projection.values()) n += layer.projection(p).parameters();
        }
        return n;
    }
}
