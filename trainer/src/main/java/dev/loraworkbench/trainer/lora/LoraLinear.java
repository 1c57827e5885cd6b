package dev.loraworkbench.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import dev.loraworkbench.trainer.tensor.Tensors;

/**
 * A frozen projection with a LoRA pair on top: y = base(x) + (scale · dropout(x) Aᵀ) Bᵀ. PEFT scales B's output; scaling
 * A's r-wide output instead is the same product (within fp32 rounding) and keeps one out-wide tensor fewer per projection.
 */
public record LoraLinear(dev.loraworkbench.trainer.model.Linear base, LoraAdapter.Pair pair, float scale, double dropout)
        implements dev.loraworkbench.trainer.model.Linear {

    @Override
    public NDArray apply(NDArray x, boolean training) {
        NDArray y = base.apply(x, training);
        NDArray in = training && dropout > 0 ? Dropout.dropout(x, (float) dropout, true).singletonOrThrow() : x;
        NDArray down = Linear.linear(in, pair.a()).singletonOrThrow();
        return y.add(Linear.linear(down.mul(Tensors.scalar(x.getManager(), scale)), pair.b()).singletonOrThrow());
    }

    @Override
    public dev.loraworkbench.trainer.model.Linear materialize(ai.djl.ndarray.NDManager scope) {
        return new LoraLinear(base.materialize(scope), pair, scale, dropout);
    }

    @Override
    public long parameters() {
        return base.parameters();
    }
}
