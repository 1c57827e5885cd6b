package dev.loraworkbench.trainer.train;

import java.util.Map;

/**
 * Dynamic loss scaling for fp16 compute, as torch.amp.GradScaler does it: the loss is multiplied by the scale
 * before backward so small gradients survive the fp16 matmuls' backward; a step whose gradients overflow is
 * skipped and the scale halved; after {@code growthInterval} good steps in a row the scale doubles. bf16 has
 * fp32's exponent range and needs none.
 */
public final class LossScaler {
    static final double INITIAL = 65536.0;
    static final int GROWTH_INTERVAL = 2000;

    private double scale;
    private int goodSteps;

    public LossScaler() { this(INITIAL, 0); }

    LossScaler(double scale, int goodSteps) {
        this.scale = scale;
        this.goodSteps = goodSteps;
    }

    public double scale() { return scale; }

    /** @return true when the step's gradients are finite and may be applied; false: skip it (the scale was halved) */
    public boolean update(boolean finite) {
        if (!finite) {
            scale = Math.max(1.0, scale / 2);
            goodSteps = 0;
            return false;
        }
        if (++goodSteps >= GROWTH_INTERVAL) {
            scale *= 2;
            goodSteps = 0;
        }
        return true;
    }

    /** Saved with the optimizer state, so a resumed run skips and grows exactly as the uninterrupted one. */
    public Map<String, String> state() {
        return Map.of("loss_scale", Double.toString(scale), "loss_scale_good_steps", Integer.toString(goodSteps));
    }

    public void restore(Map<String, String> metadata) {
        if (metadata.containsKey("loss_scale")) scale = Double.parseDouble(metadata.get("loss_scale"));
        if (metadata.containsKey("loss_scale_good_steps")) goodSteps = Integer.parseInt(metadata.get("loss_scale_good_steps"));
    }
}
