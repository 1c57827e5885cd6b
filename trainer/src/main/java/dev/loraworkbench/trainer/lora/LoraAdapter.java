package dev.loraworkbench.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.model.Tensors;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * LoRA weights for a set of projections: y = W x + scale · B (A (dropout(x))), A [r, in], B [out, r].
 * Keys are HF module paths ("model.layers.0.self_attn.q_proj"); {@link PeftFormat} maps them to PEFT names.
 */
public final class LoraAdapter {
    /** One adapted projection. */
    public record Pair(NDArray a, NDArray b) {}

    private final Map<String, Pair> pairs;
    private final LoraSettings settings;

    public LoraAdapter(Map<String, Pair> pairs, LoraSettings settings) {
        this.pairs = pairs;
        this.settings = settings;
        pairs.forEach((module, p) -> { // names show up in diagnostics
            p.a().setName(module + ".lora_A");
            p.b().setName(module + ".lora_B");
        });
    }

    public LoraSettings settings() { return settings; }

    public float scale() { return settings.scale(); }

    /** Null when the projection is not adapted. */
    public Pair get(String modulePath) { return pairs.get(modulePath); }

    public Map<String, Pair> pairs() { return pairs; }

    /** Fresh adapter: A kaiming-uniform(a=√5) as PEFT/torch do, i.e. U(-1/√in, 1/√in); B zeros, so training starts at the base model. */
    public static LoraAdapter init(ModelConfig config, LoraSettings settings, NDManager manager, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, Pair> pairs = new LinkedHashMap<>();
        for (int layer = 0; layer < config.numLayers(); layer++) {
            for (String p : DecoderWeights.PROJECTIONS) {
                if (!settings.targetModules().contains(p)) continue;
                int[] io = inOut(config, p);
                int in = io[0];
                int out = io[1];
                float bound = (float) (1.0 / Math.sqrt(in));
                float[] a = new float[settings.r() * in];
                for (int i = 0; i < a.length; i++) a[i] = (float) (random.nextDouble() * 2 - 1) * bound;
                NDArray aArr = Tensors.of(manager, a, new Shape(settings.r(), in));
                NDArray bArr = manager.zeros(new Shape(out, settings.r()));
                pairs.put(DecoderWeights.modulePath(layer, p), new Pair(aArr, bArr));
            }
        }
        LoraAdapter adapter = new LoraAdapter(pairs, settings);
        adapter.parameters().forEach(x -> x.setRequiresGradient(true));
        return adapter;
    }

    /** [in, out] features of a projection. */
    public static int[] inOut(ModelConfig c, String projection) {
        int h = c.hiddenSize();
        int q = c.numHeads() * c.headDim();
        int kv = c.numKvHeads() * c.headDim();
        return switch (projection) {
            case "q_proj" -> new int[] {h, q};
            case "k_proj", "v_proj" -> new int[] {h, kv};
            case "o_proj" -> new int[] {q, h};
            case "gate_proj", "up_proj" -> new int[] {h, c.intermediateSize()};
            case "down_proj" -> new int[] {c.intermediateSize(), h};
            default -> throw new IllegalArgumentException(projection);
        };
    }

    /** Trainable arrays in a fixed order (A then B per module, modules in layer order). */
    public NDList parameters() {
        NDList out = new NDList();
        for (Pair p : pairs.values()) {
            out.add(p.a());
            out.add(p.b());
        }
        return out;
    }

    public long parameterCount() {
        long n = 0;
        for (NDArray p : parameters()) n += p.size();
        return n;
    }

    /** Settings as PEFT records them in adapter_config.json. */
    public record LoraSettings(int r, double alpha, double dropout, List<String> targetModules, boolean useRslora) {
        public float scale() {
            return (float) (useRslora ? alpha / Math.sqrt(r) : alpha / r);
        }
    }
}
