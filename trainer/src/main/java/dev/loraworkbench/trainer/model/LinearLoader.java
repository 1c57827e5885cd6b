package dev.loraworkbench.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.tensor.Tensors;

/**
 * Builds one projection from its stored weight, read in ranges so no full fp32 copy sits on the heap. The choice
 * between a dense and a 4-bit projection is made here, once per model, by whoever loads it.
 */
@FunctionalInterface
public interface LinearLoader {
    /**
     * @param name the weight's tensor name, e.g. "model.layers.0.self_attn.q_proj.weight"
     * @param shape [out, in], already checked against config.json
     * @param bias the projection's bias (loaded fp32), or null
     */
    Linear load(String name, long[] shape, Tensors.RangeReader weight, NDArray bias);

    /** Dense frozen projections with their matmuls in {@code computeType}: fp32, or weights stored in fp16 / bf16. */
    static LinearLoader dense(NDManager manager, DataType computeType) {
        return (name, shape, reader, bias) -> {
            NDArray w = Tensors.streamed(manager, new Shape(shape), reader);
            w.setName(name);
            if (computeType == DataType.FLOAT32) return new FrozenLinear(w, bias);
            NDArray half = w.toType(computeType, false); // frozen: no graph needed
            half.setName(name);
            w.close();
            return new FrozenLinear(half, bias);
        };
    }
}
