package dev.loraworkbench.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import dev.loraworkbench.trainer.tensor.Tensors;

/** A frozen projection with a LoRA pair on top: y = base(x) + scale · (dropout(x) Aᵀ) Bᵀ. */
public record LoraLinear(dev.loraworkbench.trainer.model.Linear base, LoraAdapter.Pair pair, float scale, double dropout)
        implements dev.loraworkbench.trainer.model.Linear {

    @Override
    public NDArray apply(NDArray x, boolean training) {
        NDArray y = base.apply(x, training);
        NDArray in = training && dropout > 0 ? Dropout.dropout(x, (float) dropout, true).singletonOrThrow() : x;
        NDArray delta = Linear.linear(Linear.linear(in, pair.a()).singletonOrThrow(), pair.b()).singletonOrThrow();
        return y.add(delta.mul(Tensors.scalar(x.getManager(), scale)));
    }

    @Override
    public long parameters() {
        return base.parameters();
    }
}
