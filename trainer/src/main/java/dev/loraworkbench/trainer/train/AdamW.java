package dev.loraworkbench.trainer.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import dev.loraworkbench.trainer.quant.Blockwise8bit;
import dev.loraworkbench.trainer.quant.DynamicMap;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * AdamW as torch.optim.AdamW (β1 0.9, β2 0.999, eps 1e-8, decoupled weight decay), on the trainable
 * parameters only. Moments live in the long-lived manager; call {@link #step} inside a step scope that
 * has the parameters and moments temporarily attached. Each parameter's (or 8-bit group's) temporaries die in a
 * scope of their own before the next one's are made.
 *
 * <p>With 8-bit state ({@code training.optimizer: adamw_8bit}) the moments of every tensor of 4096 values or more are
 * kept as bitsandbytes' AdamW8bit keeps them ({@code optimizer_update_8bit_blockwise}): dequantized to fp32 for the
 * update, the parameter updated from the fp32 moments, the moments quantized again. 2 bytes a value instead of 8.
 */
public final class AdamW {
    private static final String OPTIMIZER = "optimizer";
    private static final double BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-8;
    private final NDList params;
    private final List<Moments> moments = new ArrayList<>();
    private final double weightDecay;
    private final boolean eightBit;
    private final NDList codecs = new NDList();
    private final long groupValues;
    private int t;

    public AdamW(NDList params, double weightDecay, NDManager manager) {
        this(params, weightDecay, manager, false);
    }

    /** @param eightBit keep the moments of tensors of {@value Blockwise8bit#MIN_8BIT_SIZE}+ values in 8 bits (bitsandbytes' AdamW8bit) */
    public AdamW(NDList params, double weightDecay, NDManager manager, boolean eightBit) {
        this(params, weightDecay, manager, eightBit, Blockwise8bit.RANGE_VALUES);
    }

    /** @param groupValues the most values of an 8-bit group, and the range of one the step updates at a time (tests compare sizes) */
    AdamW(NDList params, double weightDecay, NDManager manager, boolean eightBit, long groupValues) {
        this.params = params;
        if (groupValues % Blockwise8bit.BLOCK != 0) throw new IllegalArgumentException("groups of " + groupValues + " values do not align with blocks of 256");
        this.groupValues = groupValues;
        this.weightDecay = weightDecay;
        this.eightBit = eightBit;
        Blockwise8bit signed = eightBit ? Blockwise8bit.of(DynamicMap.SIGNED, manager) : null;
        Blockwise8bit unsigned = eightBit ? Blockwise8bit.of(DynamicMap.UNSIGNED, manager) : null;
        if (eightBit) codecs.addAll(new NDList(signed.map(), signed.bounds(), unsigned.map(), unsigned.bounds()));
        List<Integer> group = new ArrayList<>();
        long grouped = 0;
        for (int i = 0; i < params.size(); i++) {
            long n = params.get(i).size();
            if (!eightBit || n < Blockwise8bit.MIN_8BIT_SIZE) {
                moments.add(new Moments.Fp32(i, params.get(i).getShape(), manager));
                continue;
            }
            if (!group.isEmpty() && grouped + n > groupValues) {
                moments.add(eightBitGroup(group, manager, signed, unsigned));
                group.clear();
                grouped = 0;
            }
            group.add(i);
            grouped += n;
        }
        if (!group.isEmpty()) moments.add(eightBitGroup(group, manager, signed, unsigned));
        makeGradients(params, manager);
    }

    private Moments.EightBit eightBitGroup(List<Integer> group, NDManager manager, Blockwise8bit signed, Blockwise8bit unsigned) {
        int[] indices = group.stream().mapToInt(Integer::intValue).toArray();
        long[] sizes = group.stream().mapToLong(i -> params.get(i).size()).toArray();
        return new Moments.EightBit(indices, sizes, manager, signed, unsigned);
    }

    /** Which optimizer this is, as recipes name it ("adamw", "adamw_8bit"): checkpoints record it, the run's log names it. */
    public String kind() {
        return (eightBit ? Recipe.Optimizer.ADAMW_8BIT : Recipe.Optimizer.ADAMW).name().toLowerCase(Locale.ROOT);
    }

    /**
     * Zero gradients for every parameter, made now beside the moments. Made by the first backward instead, they land
     * between that step's freed activations in glibc's heap and keep those blocks from joining into the larger ones the
     * next layer asks for. The values are the same: the first backward adds to zero.
     */
    private static void makeGradients(NDList params, NDManager manager) {
        List<NDArray> trained = params.stream().filter(NDArray::hasGradient).toList(); // requires_grad
        if (trained.isEmpty()) return;
        try (NDManager scope = manager.newSubManager(); GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
            NDArray sum = null;
            for (NDArray p : trained) {
                NDArray term = p.sum().mul(0f);
                term.attach(scope);
                sum = sum == null ? term : sum.add(term);
            }
            collector.backward(sum);
        }
    }

    /** The trained parameters, in the order their moments are kept. */
    public NDList parameters() {
        return params;
    }

    /** Moments (and the 8-bit state's lookup tables), for attaching to a step scope. */
    public NDList state() {
        NDList all = new NDList();
        for (Moments mv : moments) all.addAll(mv.arrays());
        all.addAll(codecs);
        return all;
    }

    /** Global L2 norm of all gradients (before clipping). */
    public static double gradNorm(NDList params) {
        double sum = 0;
        for (NDArray p : params) sum += p.getGradient().square().sum().getFloat();
        return Math.sqrt(sum);
    }

    /** One update with gradients multiplied by {@code gradScale} (the clipping factor), then gradients are zeroed. */
    public void step(double lr, double gradScale) {
        t++;
        double bc1 = 1 - Math.pow(BETA1, t);
        double bc2 = 1 - Math.pow(BETA2, t);
        for (Moments unit : moments) {
            int[] indices = unit.params();
            // each unit's temporaries are freed after it: kept to the end of the step they would add up to several
            // times the trained weights (2.7 GB for the 32B's 134M LoRA values in fp32)
            try (NDManager scope = params.get(indices[0]).getManager().newSubManager()) {
                for (int i : indices) scope.tempAttachAll(params.get(i));
                scope.tempAttachAll(unit.arrays().toArray(new NDArray[0]));
                if (unit instanceof Moments.Fp32 fp32) {
                    NDArray[] mv = fp32.load();
                    NDArray grad = params.get(indices[0]).getGradient();
                    NDArray update = update(mv[0], mv[1], gradScale == 1.0 ? grad : grad.mul(gradScale), lr, bc1, bc2);
                    apply(params.get(indices[0]), update, lr);
                } else if (unit instanceof Moments.EightBit group) {
                    // a range of up to groupValues at a time (a group of small tensors is one range, an embedding many); what
                    // outlives a range is written into arrays made before the first, so nothing lodges between freed temporaries
                    NDArray update = scope.zeros(new Shape(group.length()));
                    for (long from = 0; from < group.length(); from += groupValues) {
                        long to = Math.min(group.length(), from + groupValues);
                        try (NDManager range = scope.newSubManager()) {
                            range.tempAttachAll(unit.arrays().toArray(new NDArray[0]));
                            for (int i : indices) range.tempAttachAll(params.get(i));
                            NDArray[] mv = group.load(from, to);
                            update.set(new NDIndex(from + ":" + to), update(mv[0], mv[1], gradients(group, from, to, gradScale), lr, bc1, bc2));
                            group.store(from, to, mv[0], mv[1]);
                        }
                    }
                    for (int j = 0; j < indices.length; j++) apply(params.get(indices[j]), slice(update, group.offset(j), params.get(indices[j])), lr);
                }
            }
        }
    }

    /** m and v updated in place with the gradient; returns the parameter's step, lr * m̂ / (√v̂ + ε). */
    private static NDArray update(NDArray m, NDArray v, NDArray grad, double lr, double bc1, double bc2) {
        m.muli(BETA1).addi(grad.mul(1 - BETA1));
        v.muli(BETA2).addi(grad.square().muli(1 - BETA2));
        NDArray denom = v.div(bc2).sqrt().addi(EPS);
        return m.div(denom).muli(lr / bc1);
    }

    /** Decoupled weight decay, then the step; the gradient is zeroed. */
    private void apply(NDArray p, NDArray update, double lr) {
        if (weightDecay > 0 && decays(p.getName())) p.subi(p.mul(lr * weightDecay));
        p.subi(update);
        JniUtils.zeroGrad((PtNDArray) p);
    }

    /** Values from..to of a group's gradients times {@code gradScale}, laid out as its moments are (zeros in the padding). */
    private NDArray gradients(Moments.EightBit group, long from, long to, double gradScale) {
        NDList parts = new NDList();
        int[] indices = group.params();
        long at = from;
        for (int j = 0; j < indices.length; j++) {
            NDArray g = params.get(indices[j]).getGradient();
            long start = Math.max(from, group.offset(j)), end = Math.min(to, group.offset(j) + g.size());
            if (start >= end) continue;
            if (start > at) parts.add(g.getManager().zeros(new Shape(start - at)));
            NDArray flat = g.reshape(g.size());
            parts.add(end - start == g.size() ? flat : flat.get((start - group.offset(j)) + ":" + (end - group.offset(j))));
            at = end;
        }
        if (to > at) parts.add(params.get(indices[0]).getManager().zeros(new Shape(to - at)));
        NDArray grad = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts);
        return gradScale == 1.0 ? grad : grad.mul(gradScale);
    }

    /** Parameter p's part of a group's flat tensor, in p's shape. */
    private static NDArray slice(NDArray flat, long offset, NDArray p) {
        return flat.get(offset + ":" + (offset + p.size())).reshape(p.getShape());
    }

    public int stepsTaken() { return t; }

    /** As transformers' Trainer: no weight decay on biases and norm weights (full-parameter training); LoRA matrices decay. */
    static boolean decays(String name) {
        return name == null || !(name.endsWith(".bias") || name.endsWith("norm.weight"));
    }

    /** Zeroes the gradients without an update (a step skipped by fp16 loss scaling). */
    public void discardGradients() {
        for (NDArray p : params) JniUtils.zeroGrad((PtNDArray) p);
    }

    /** Each parameter's key in state files: its index and name, e.g. "3.model.layers.0.self_attn.q_proj.lora_A.weight". */
    private String[] keys() {
        String[] keys = new String[params.size()];
        for (int i = 0; i < keys.length; i++) keys[i] = i + "." + params.get(i).getName();
        return keys;
    }

    /** Moments and step count, exactly (fp32, or the 8-bit codes and scales), for checkpoints. @param extra metadata saved alongside (the fp16 loss scaler's state) */
    public void writeState(Path file, java.util.Map<String, String> extra) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter().metadata("step", Integer.toString(t)).metadata(OPTIMIZER, kind());
        extra.forEach(w::metadata);
        String[] keys = keys();
        for (Moments unit : moments) unit.write(w, keys);
        w.write(file);
    }

    /** Restores what {@link #writeState} wrote; the parameters must be the same, in the same order. @return the file's metadata */
    public java.util.Map<String, String> readState(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            String step = f.metadata().get("step");
            if (step == null) throw new CheckpointFormatException(file + ": no 'step' in the metadata; not an optimizer state file");
            String written = f.metadata().getOrDefault(OPTIMIZER, "adamw"); // files from before 8-bit state hold fp32 moments
            if (!written.equals(kind())) {
                throw new CheckpointFormatException(file + ": holds " + written + " state, but this run trains with " + kind()
                        + " (training.optimizer); resume with training.optimizer: " + written + ", or start a new run");
            }
            String[] keys = keys();
            int expected = 0;
            for (Moments unit : moments) {
                unit.read(f, keys);
                expected += unit.tensorsWritten();
            }
            if (f.tensors().size() != expected) {
                throw new CheckpointFormatException(file + ": holds " + f.tensors().size() + " state tensors, the adapter's " + params.size() + " parameters need " + expected);
            }
            t = Integer.parseInt(step);
            return f.metadata();
        }
    }
}
