package dev.loraworkbench.trainer.export;

import ai.djl.ndarray.NDManager;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.quant.Quantizer;

/**
 * The base model's tensors with a LoRA adapter merged in, one tensor at a time: W + scale · B A, where W is the
 * stored weight, or, for an adapter trained against a 4-bit base, that weight quantized and dequantized exactly as
 * training saw it (as PEFT's merge_and_unload of a 4-bit model does). What every merged export writes.
 *
 * @param adapter null for the base model alone
 * @param trainedOn the 4-bit quantization the adapter was trained against, or null
 */
record MergedWeights(HfCheckpoint base, LoraAdapter adapter, Quantization trainedOn) {

    /** The tensor as the merged model holds it, fp32, row-major like the stored one. */
    float[] values(String name, long[] shape) {
        float[] values = base.floats(name);
        if (adapter == null) return values;
        if (trainedOn != null && isQuantizedProjection(name)) {
            values = Quantizer.dequantize(Quantizer.quantize(values, shape, trainedOn.codebook(), trainedOn.blockSize(), trainedOn.doubleQuant()));
        }
        LoraAdapter.Pair pair = adapted(name);
        if (pair != null) addScaledProduct(values, pair, adapter.scale());
        return values;
    }

    /** The adapter's pair for this weight, if it adapts it. */
    LoraAdapter.Pair adapted(String name) {
        return adapter != null && name.endsWith(".weight") ? adapter.get(name.substring(0, name.length() - ".weight".length())) : null;
    }

    /** The weights a 4-bit load quantizes: the seven projections of every decoder layer. */
    static boolean isQuantizedProjection(String name) {
        if (!name.startsWith("model.layers.") || !name.endsWith(".weight")) return false;
        String module = name.substring(0, name.length() - ".weight".length());
        return Projection.byName(module.substring(module.lastIndexOf('.') + 1)).isPresent();
    }

    /** values += scale · (B A), B [out, r], A [r, in], row-major like the weight. */
    private static void addScaledProduct(float[] values, LoraAdapter.Pair pair, float scale) {
        try (NDManager scope = pair.a().getManager().newSubManager()) {
            scope.tempAttachAll(pair.a(), pair.b());
            float[] delta = pair.b().matMul(pair.a()).toFloatArray(); // [out, in]
            if (delta.length != values.length) throw new IllegalStateException("LoRA product does not match the weight's size");
            for (int i = 0; i < values.length; i++) values[i] += scale * delta[i];
        }
    }
}
