package dev.loraworkbench.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import dev.loraworkbench.trainer.model.Tensors;

/** A frozen linear layer with an optional LoRA pair: y = x Wᵀ + b + scale · (dropout(x) Aᵀ) Bᵀ. */
public final class LoraLinear {
    private LoraLinear() {}

    /**
     * @param x input [..., in]
     * @param weight frozen weight [out, in]
     * @param bias frozen bias [out] or null
     * @param pair LoRA pair or null
     */
    public static NDArray apply(NDArray x, NDArray weight, NDArray bias, LoraAdapter.Pair pair, float scale, double dropout, boolean training) {
        NDArray y = bias == null ? Linear.linear(x, weight).singletonOrThrow() : Linear.linear(x, weight, bias).singletonOrThrow();
        if (pair == null) return y;
        NDArray in = training && dropout > 0 ? Dropout.dropout(x, (float) dropout, true).singletonOrThrow() : x;
        NDArray delta = Linear.linear(Linear.linear(in, pair.a()).singletonOrThrow(), pair.b()).singletonOrThrow();
        return y.add(delta.mul(Tensors.scalar(x.getManager(), scale)));
    }
}
