package dev.loraworkbench.trainer.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import dev.loraworkbench.trainer.tensor.Tensors;

/**
 * A 4-bit weight held on the device: packed codes (UINT8), and either fp32 block scales or, with double
 * quantization, 8-bit scale codes + per-256 scales + offset. {@link #dequantize} rebuilds the fp32 weight
 * with table gathers (DJL has no bitwise ops): byte -> two codebook values, code -> dynamic-map value.
 */
public record DeviceQuantized(Codebook codebook, Shape shape, int blockSize, NDArray codes, NDArray absmax,
                              NDArray absmaxCodes, NDArray absmax2, float offset) {

    public static DeviceQuantized upload(QuantizedTensor q, NDManager m) {
        if (q.numel() % q.blockSize() != 0) {
            throw new IllegalArgumentException("a tensor of " + q.numel() + " elements is not a whole number of " + q.blockSize() + "-element blocks");
        }
        NDArray codes = Tensors.bytes(m, q.codes());
        if (!q.doubleQuant()) {
            return new DeviceQuantized(q.codebook(), new Shape(q.shape()), q.blockSize(), codes, Tensors.of(m, q.absmax(), new Shape(q.absmax().length)),
                    null, null, 0f);
        }
        return new DeviceQuantized(q.codebook(), new Shape(q.shape()), q.blockSize(), codes, null, Tensors.bytes(m, q.absmaxCodes()),
                Tensors.of(m, q.absmax2(), new Shape(q.absmax2().length)), q.offset());
    }

    public NDList arrays() {
        NDList l = new NDList(codes);
        if (absmax != null) l.add(absmax);
        if (absmaxCodes != null) {
            l.add(absmaxCodes);
            l.add(absmax2);
        }
        return l;
    }

    /** The weight in {@code type}: rebuilt in fp32 (exact, as bitsandbytes computes it), then rounded once. */
    public NDArray dequantize(NDManager scratch, DataType type) {
        NDArray w = dequantize(scratch);
        return type == DataType.FLOAT32 ? w : w.toType(type, false);
    }

    /** The fp32 weight, created in {@code scratch} (close it to free the weight once the layer is done). */
    public NDArray dequantize(NDManager scratch) {
        scratch.tempAttachAll(arrays().toArray(new NDArray[0]));
        long blocks = shape.size() / blockSize;
        NDArray table = Tensors.of(scratch, Quantizer.byteTable(codebook), new Shape(256, 2));
        NDArray pairs = Embedding.embedding(codes.toType(DataType.INT32, false), table, SparseFormat.DENSE).singletonOrThrow(); // [n/2, 2]
        return pairs.reshape(blocks, blockSize).mul(scales(scratch).reshape(blocks, 1)).reshape(shape);
    }

    private NDArray scales(NDManager scratch) {
        if (absmax != null) return absmax;
        long n = absmaxCodes.size();
        NDArray map = Tensors.of(scratch, DynamicMap.SIGNED, new Shape(256, 1));
        NDArray decoded = Embedding.embedding(absmaxCodes.toType(DataType.INT32, false), map, SparseFormat.DENSE).singletonOrThrow().reshape(n);
        NDArray perScale = absmax2.repeat(0, QuantizedTensor.SCALE_BLOCK).get("0:" + n); // absmax2 of each scale's block of 256
        return decoded.mul(perScale).add(Tensors.scalar(scratch, offset));
    }

    public long bytes() {
        return codes.size() + (absmax != null ? 4 * absmax.size() : absmaxCodes.size() + 4 * absmax2.size() + 4);
    }
}
