package dev.loraworkbench.trainer.model;

import ai.djl.ndarray.NDArray;

/**
 * One linear projection of the decoder, bound once when the model is built: frozen (fp32 or half), 4-bit, or
 * wrapped by an adapter from a package above. The decoder only ever calls {@link #apply}.
 */
public interface Linear {
    /**
     * @param x input [..., in], fp32, in the caller's step scope
     * @param training true in training forwards (adapters apply dropout)
     * @return y = x Wᵀ (+ b), fp32 [..., out]
     */
    NDArray apply(NDArray x, boolean training);

    /** Parameters of the base weight and bias (a quantized weight counted as the weights it stands for). */
    long parameters();

    /**
     * This projection ready for many calls in a row, its weight in {@code scope}: a 4-bit one dequantized once (a layer
     * recomputed in pieces calls each projection once per tile), a dense one as it is.
     */
    default Linear materialize(ai.djl.ndarray.NDManager scope) {
        return this;
    }
}
