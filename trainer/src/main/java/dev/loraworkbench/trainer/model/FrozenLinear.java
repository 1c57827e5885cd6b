package dev.loraworkbench.trainer.model;

import ai.djl.ndarray.NDArray;
import dev.loraworkbench.trainer.tensor.Tensors;

/** A frozen projection held as a dense weight [out, in] in fp32 or, for half-precision compute, in fp16 / bf16. */
public record FrozenLinear(NDArray weight, NDArray bias) implements Linear {

    @Override
    public NDArray apply(NDArray x, boolean training) {
        return matmul(x, weight, bias);
    }

    @Override
    public long parameters() {
        return weight.size() + (bias == null ? 0 : bias.size());
    }

    /**
     * x Wᵀ + b. A half-precision W (compute_dtype fp16 / bf16) gets x in its dtype and gives back fp32, so the
     * residual stream, norms, softmax, LoRA and the loss stay fp32: half precision only where the FLOPs are.
     */
    public static NDArray matmul(NDArray x, NDArray weight, NDArray bias) {
        if (weight.getDataType() == x.getDataType()) {
            return bias == null ? ai.djl.nn.core.Linear.linear(x, weight).singletonOrThrow()
                    : ai.djl.nn.core.Linear.linear(x, weight, bias).singletonOrThrow();
        }
        NDArray y = Tensors.float32InGraph(ai.djl.nn.core.Linear.linear(Tensors.castInGraph(x, weight.getDataType()), weight).singletonOrThrow());
        return bias == null ? y : y.add(bias);
    }
}
