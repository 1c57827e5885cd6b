package dev.loraworkbench.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.tensor.Tensors;
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
            for (Projection p : Projection.values()) {
                if (!settings.targetModules().contains(p.hfName())) continue;
                int in = p.in(config);
                int out = p.out(config);
                float bound = (float) (1.0 / Math.sqrt(in));
                float[] a = new float[settings.r() * in];
                for (int i = 0; i < a.length; i++) a[i] = (float) (random.nextDouble() * 2 - 1) * bound;
                NDArray aArr = Tensors.of(manager, a, new Shape(settings.r(), in));
                NDArray bArr = manager.zeros(new Shape(out, settings.r()));
                pairs.put(p.modulePath(layer), new Pair(aArr, bArr));
            }
        }
        LoraAdapter adapter = new LoraAdapter(pairs, settings);
        adapter.parameters().forEach(x -> x.setRequiresGradient(true));
        return adapter;
    }

    /** The base weights with every adapted projection wrapped: base(x) + scale · B A dropout(x). */
    public DecoderWeights applyTo(DecoderWeights base) {
        return base.rebind((layer, kind, linear) -> {
            Pair pair = pairs.get(kind.modulePath(layer));
            return pair == null ? linear : new LoraLinear(linear, pair, scale(), settings.dropout());
        });
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
