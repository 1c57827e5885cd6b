package dev.loraworkbench.trainer.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.loraworkbench.trainer.model.FrozenLinear;
import dev.loraworkbench.trainer.model.Linear;
import dev.loraworkbench.trainer.model.LinearLoader;

/**
 * A frozen projection stored in 4 bits (bitsandbytes' Linear4bit): each call dequantizes the weight into
 * {@code computeType} inside a scratch scope of the input's, so autograd keeps the weight only as long as backward
 * needs it (with layer-wise recomputation, one layer's weights exist at a time).
 */
public record QuantizedLinear(DeviceQuantized weight, NDArray bias, DataType computeType) implements Linear {

    @Override
    public NDArray apply(NDArray x, boolean training) {
        try (NDManager scratch = x.getManager().newSubManager()) {
            return FrozenLinear.matmul(x, weight.dequantize(scratch, computeType), bias);
        }
    }

    /** The weight dequantized once into {@code scope}, as a dense projection (freed with the scope). */
    @Override
    public Linear materialize(NDManager scope) {
        try (NDManager scratch = scope.newSubManager()) {
            NDArray w = weight.dequantize(scratch, computeType);
            w.attach(scope);
            return new FrozenLinear(w, bias);
        }
    }

    @Override
    public long parameters() {
        return weight.shape().size() + (bias == null ? 0 : bias.size());
    }

    /** Projections quantized while loading, one tensor at a time, never holding a full fp32 copy on the heap. */
    public static LinearLoader loader(Quantization q, NDManager manager, DataType computeType) {
        return (name, shape, reader, bias) -> {
            QuantizedTensor t = Quantizer.quantize(reader, shape[0] * shape[1], shape, q.codebook(), q.blockSize(), q.doubleQuant());
            return new QuantizedLinear(DeviceQuantized.upload(t, manager), bias, computeType);
        };
    }
}
