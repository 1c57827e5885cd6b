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
        NDArray y = frozen(x, weight, bias);
        if (pair == null) return y;
        NDArray in = training && dropout > 0 ? Dropout.dropout(x, (float) dropout, true).singletonOrThrow() : x;
        NDArray delta = Linear.linear(Linear.linear(in, pair.a()).singletonOrThrow(), pair.b()).singletonOrThrow();
        return y.add(delta.mul(Tensors.scalar(x.getManager(), scale)));
    }

    /**
     * x Wᵀ + b. A half-precision W (compute_dtype fp16 / bf16) gets x in its dtype and gives back fp32, so the
     * residual stream, norms, softmax, LoRA and the loss stay fp32: half precision only where the FLOPs are.
     */
    private static NDArray frozen(NDArray x, NDArray weight, NDArray bias) {
        if (weight.getDataType() == x.getDataType()) {
            return bias == null ? Linear.linear(x, weight).singletonOrThrow() : Linear.linear(x, weight, bias).singletonOrThrow();
        }
        NDArray y = Tensors.float32InGraph(Linear.linear(Tensors.castInGraph(x, weight.getDataType()), weight).singletonOrThrow());
        return bias == null ? y : y.add(bias);
    }
}
