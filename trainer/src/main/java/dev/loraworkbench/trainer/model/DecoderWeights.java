package dev.loraworkbench.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.io.TensorInfo;
import dev.loraworkbench.trainer.quant.Codebook;
import dev.loraworkbench.trainer.quant.DeviceQuantized;
import dev.loraworkbench.trainer.quant.QuantizedTensor;
import dev.loraworkbench.trainer.quant.Quantizer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Frozen base weights of a decoder-only model, fp32 NDArrays in HF layout (linear weight [out, in]). */
public record DecoderWeights(NDArray embedTokens, List<Layer> layers, NDArray finalNorm, NDArray lmHead, DataType computeType) {

    /**
     * A linear projection: a fp32 {@code weight}, or a 4-bit {@code quantized} one (then weight is null);
     * {@code bias} is null when the model has none.
     */
    public record Linear(NDArray weight, NDArray bias, DeviceQuantized quantized) {
        public long parameters() {
            return (quantized != null ? quantized.shape().size() : weight.size()) + (bias == null ? 0 : bias.size());
        }
    }

    /** How decoder projections are stored: 4-bit with this codebook and block size, or null for fp32. */
    public record Quantization(Codebook codebook, int blockSize, boolean doubleQuant) {}

    public record Layer(NDArray inputNorm, Linear q, Linear k, Linear v, Linear o, NDArray postNorm, Linear gate, Linear up, Linear down) {
        public Linear projection(String module) {
            return switch (module) {
                case "q_proj" -> q;
                case "k_proj" -> k;
                case "v_proj" -> v;
                case "o_proj" -> o;
                case "gate_proj" -> gate;
                case "up_proj" -> up;
                case "down_proj" -> down;
                default -> throw new IllegalArgumentException("no projection " + module);
            };
        }
    }

    public static final List<String> PROJECTIONS = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    /** HF module path of a projection, e.g. "model.layers.3.self_attn.q_proj". */
    public static String modulePath(int layer, String projection) {
        String block = List.of("gate_proj", "up_proj", "down_proj").contains(projection) ? "mlp" : "self_attn";
        return "model.layers." + layer + "." + block + "." + projection;
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
            for (String p : PROJECTIONS) {
                names.add(modulePath(i, p) + ".weight");
                if (qkvBias && List.of("q_proj", "k_proj", "v_proj").contains(p)) names.add(modulePath(i, p) + ".bias");
            }
        }
        return names;
    }

    /** Loads every tensor into {@code manager}, widened to fp32, checking names and shapes against the config. */
    public static DecoderWeights load(HfCheckpoint ckpt, NDManager manager) {
        return load(ckpt, manager, null);
    }

    /**
     * As {@link #load(HfCheckpoint, NDManager)}, with the decoder projections quantized while loading, one
     * tensor at a time (embeddings, norms, biases and lm_head stay fp32, as bitsandbytes leaves them).
     */
    public static DecoderWeights load(HfCheckpoint ckpt, NDManager manager, Quantization quantization) {
        return load(ckpt, manager, quantization, DataType.FLOAT32);
    }

    /**
     * As above, with the projections' matmuls in {@code computeType} (FLOAT16 / BFLOAT16): unquantized projection
     * weights are stored in it, 4-bit ones dequantized into it; everything else stays fp32.
     */
    public static DecoderWeights load(HfCheckpoint ckpt, NDManager manager, Quantization quantization, DataType computeType) {
        return load(ckpt, manager, quantization, computeType, bytes -> { });
    }

    /** @param progress told the stored size of each tensor once it is loaded (for a progress bar over minutes of loading) */
    public static DecoderWeights load(HfCheckpoint ckpt, NDManager manager, Quantization quantization, DataType computeType,
                                      java.util.function.LongConsumer progress) {
        ModelConfig c = ckpt.config();
        // transformers zero-initialises a Qwen2 q/k/v bias the checkpoint lacks; accept a checkpoint with none at all
        boolean qkvBias = c.qkvBias() && ckpt.has("model.layers.0.self_attn.q_proj.bias");
        if (c.qkvBias() && !qkvBias) {
            System.err.println("note: " + ckpt.dir() + " has no q/k/v bias tensors; using zero biases as transformers does");
        }
        ckpt.checkNames(expectedNames(c, qkvBias));
        Loader l = new Loader(ckpt, manager, quantization, computeType, progress);
        int h = c.hiddenSize();
        int q = c.numHeads() * c.headDim();
        int kv = c.numKvHeads() * c.headDim();
        int inter = c.intermediateSize();
        NDArray embed = l.tensor("model.embed_tokens.weight", c.vocabSize(), h);
        List<Layer> layers = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            layers.add(new Layer(
                    l.tensor(p + "input_layernorm.weight", h),
                    l.linear(modulePath(i, "q_proj"), q, h, qkvBias),
                    l.linear(modulePath(i, "k_proj"), kv, h, qkvBias),
                    l.linear(modulePath(i, "v_proj"), kv, h, qkvBias),
                    l.linear(modulePath(i, "o_proj"), h, q, false),
                    l.tensor(p + "post_attention_layernorm.weight", h),
                    l.linear(modulePath(i, "gate_proj"), inter, h, false),
                    l.linear(modulePath(i, "up_proj"), inter, h, false),
                    l.linear(modulePath(i, "down_proj"), h, inter, false)));
        }
        NDArray norm = l.tensor("model.norm.weight", h);
        NDArray head = c.tieWordEmbeddings() ? embed : l.tensor("lm_head.weight", c.vocabSize(), h);
        return new DecoderWeights(embed, layers, norm, head, computeType);
    }

    /** Every array, for attaching to a step's manager. */
    public NDList arrays() {
        NDList all = new NDList(embedTokens, finalNorm);
        if (lmHead != embedTokens) all.add(lmHead);
        for (Layer layer : layers) {
            all.add(layer.inputNorm());
            all.add(layer.postNorm());
            for (String p : PROJECTIONS) {
                Linear lin = layer.projection(p);
                if (lin.weight() != null) all.add(lin.weight());
                if (lin.quantized() != null) all.addAll(lin.quantized().arrays());
                if (lin.bias() != null) all.add(lin.bias());
            }
        }
        return all;
    }

    private record Loader(HfCheckpoint ckpt, NDManager manager, Quantization quantization, DataType computeType,
                          java.util.function.LongConsumer progress) {
        NDArray tensor(String name, long... shape) {
            NDArray a = Tensors.streamed(manager, new Shape(shape), reader(name, shape));
            a.setName(name);
            loaded(name);
            return a;
        }

        void loaded(String name) {
            TensorInfo info = ckpt.info(name);
            progress.accept(info.end() - info.begin());
        }

        /** Reads the stored tensor in ranges, after checking its shape against config.json. */
        Tensors.RangeReader reader(String name, long... shape) {
            TensorInfo info = ckpt.info(name);
            if (!java.util.Arrays.equals(info.shape(), shape)) {
                throw new dev.loraworkbench.trainer.io.CheckpointFormatException(ckpt.dir() + ": tensor '" + name + "' has shape "
                        + java.util.Arrays.toString(info.shape()) + " but config.json implies " + java.util.Arrays.toString(shape));
            }
            return (from, dst, count) -> ckpt.floats(name, from, dst, count);
        }

        Linear linear(String module, int out, int in, boolean bias) {
            NDArray b = bias ? tensor(module + ".bias", out) : null;
            if (quantization == null) {
                NDArray w = tensor(module + ".weight", out, in);
                if (computeType == DataType.FLOAT32) return new Linear(w, b, null);
                NDArray half = w.toType(computeType, false); // frozen: no graph needed
                half.setName(w.getName());
                w.close();
                return new Linear(half, b, null);
            }
            long[] shape = {out, in};
            QuantizedTensor q = Quantizer.quantize(reader(module + ".weight", shape), (long) out * in, shape, quantization.codebook(),
                    quantization.blockSize(), quantization.doubleQuant());
            loaded(module + ".weight");
            return new Linear(null, b, DeviceQuantized.upload(q, manager));
        }
    }

    /** Parameters of the base model (quantized ones counted as the weights they stand for). */
    public long parameterCount() {
        long n = embedTokens.size() + finalNorm.size() + (lmHead != embedTokens ? lmHead.size() : 0);
        for (Layer layer : layers) {
            n += layer.inputNorm().size() + layer.postNorm().size();
            for (String p : PROJECTIONS) n += layer.projection(p).parameters();
        }
        return n;
    }
}
