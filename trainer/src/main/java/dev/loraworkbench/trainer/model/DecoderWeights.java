package dev.loraworkbench.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.io.TensorInfo;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Frozen base weights of a decoder-only model, fp32 NDArrays in HF layout (linear weight [out, in]). */
public record DecoderWeights(NDArray embedTokens, List<Layer> layers, NDArray finalNorm, NDArray lmHead) {

    /** A linear projection; {@code bias} is null when the model has none. */
    public record Linear(NDArray weight, NDArray bias) {}

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
        ModelConfig c = ckpt.config();
        // transformers zero-initialises a Qwen2 q/k/v bias the checkpoint lacks; accept a checkpoint with none at all
        boolean qkvBias = c.qkvBias() && ckpt.has("model.layers.0.self_attn.q_proj.bias");
        if (c.qkvBias() && !qkvBias) {
            System.err.println("note: " + ckpt.dir() + " has no q/k/v bias tensors; using zero biases as transformers does");
        }
        ckpt.checkNames(expectedNames(c, qkvBias));
        Loader l = new Loader(ckpt, manager);
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
        return new DecoderWeights(embed, layers, norm, head);
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
                all.add(lin.weight());
                if (lin.bias() != null) all.add(lin.bias());
            }
        }
        return all;
    }

    private record Loader(HfCheckpoint ckpt, NDManager manager) {
        NDArray tensor(String name, long... shape) {
            TensorInfo info = ckpt.info(name);
            if (!java.util.Arrays.equals(info.shape(), shape)) {
                throw new dev.loraworkbench.trainer.io.CheckpointFormatException(ckpt.dir() + ": tensor '" + name + "' has shape "
                        + java.util.Arrays.toString(info.shape()) + " but config.json implies " + java.util.Arrays.toString(shape));
            }
            NDArray a = Tensors.of(manager, ckpt.floats(name), new Shape(shape));
            a.setName(name);
            return a;
        }

        Linear linear(String module, int out, int in, boolean bias) {
            return new Linear(tensor(module + ".weight", out, in), bias ? tensor(module + ".bias", out) : null);
        }
    }
}
