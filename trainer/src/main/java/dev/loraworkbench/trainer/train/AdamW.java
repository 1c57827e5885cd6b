package dev.loraworkbench.trainer.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * AdamW as torch.optim.AdamW (β1 0.9, β2 0.999, eps 1e-8, decoupled weight decay), on the trainable
 * parameters only. Moments live in the long-lived manager; call {@link #step} inside a step scope that
 * has the parameters and moments temporarily attached, so temporaries die with the step.
 */
public final class AdamW {
    private static final double BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-8;
    private final NDList params;
    private final List<NDArray> m = new ArrayList<>();
    private final List<NDArray> v = new ArrayList<>();
    private final double weightDecay;
    private int t;

    public AdamW(NDList params, double weightDecay, NDManager manager) {
        this.params = params;
        this.weightDecay = weightDecay;
        for (NDArray p : params) {
            m.add(manager.zeros(p.getShape()));
            v.add(manager.zeros(p.getShape()));
        }
        makeGradients(params, manager);
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

    /** Moments, for attaching to a step scope. */
    public NDList state() {
        NDList all = new NDList();
        all.addAll(m);
        all.addAll(v);
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
        for (int i = 0; i < params.size(); i++) {
            NDArray p = params.get(i);
            NDArray g = p.getGradient();
            NDArray grad = gradScale == 1.0 ? g : g.mul(gradScale);
            if (weightDecay > 0 && decays(p.getName())) p.subi(p.mul(lr * weightDecay));
            m.get(i).muli(BETA1).addi(grad.mul(1 - BETA1));
            v.get(i).muli(BETA2).addi(grad.square().muli(1 - BETA2));
            NDArray denom = v.get(i).div(bc2).sqrt().addi(EPS);
            p.subi(m.get(i).div(denom).muli(lr / bc1));
            JniUtils.zeroGrad((PtNDArray) p);
        }
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

    /** Moments and step count, exactly (fp32), for checkpoints. @param extra metadata saved alongside (the fp16 loss scaler's state) */
    public void writeState(Path file, java.util.Map<String, String> extra) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter().metadata("step", Integer.toString(t));
        extra.forEach(w::metadata);
        for (int i = 0; i < params.size(); i++) {
            String name = params.get(i).getName();
            w.putF32("exp_avg." + i + "." + name, m.get(i).getShape().getShape(), m.get(i).toFloatArray());
            w.putF32("exp_avg_sq." + i + "." + name, v.get(i).getShape().getShape(), v.get(i).toFloatArray());
        }
        w.write(file);
    }

    /** Restores what {@link #writeState} wrote; the parameters must be the same, in the same order. @return the file's metadata */
    public java.util.Map<String, String> readState(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            String step = f.metadata().get("step");
            if (step == null) throw new CheckpointFormatException(file + ": no 'step' in the metadata; not an optimizer state file");
            for (int i = 0; i < params.size(); i++) {
                String name = params.get(i).getName();
                m.set(i, restore(f, "exp_avg." + i + "." + name, m.get(i)));
                v.set(i, restore(f, "exp_avg_sq." + i + "." + name, v.get(i)));
            }
            if (f.tensors().size() != 2 * params.size()) {
                throw new CheckpointFormatException(file + ": holds " + f.tensors().size() / 2 + " parameters' moments, the adapter has " + params.size());
            }
            t = Integer.parseInt(step);
            return f.metadata();
        }
    }

    private static NDArray restore(SafetensorsFile f, String name, NDArray current) {
        if (!f.tensors().containsKey(name)) throw new CheckpointFormatException(f.path() + ": missing '" + name + "'; the checkpoint is for another adapter layout");
        NDArray restored = Tensors.of(current.getManager(), f.floats(name), current.getShape());
        current.close();
        return restored;
    }
}
