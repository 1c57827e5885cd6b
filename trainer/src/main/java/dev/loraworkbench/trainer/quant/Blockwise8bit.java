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
 * bitsandbytes' blockwise 8-bit quantization of optimizer state ({@code quantize_blockwise} /
 * {@code dequantize_blockwise} as its default backend computes them): blocks of 256 values, each block scaled by its
 * largest magnitude, each value stored as the index of the nearest entry of a 256-value dynamic map. A tensor whose
 * size is not a whole number of blocks is padded with zeros, which leave its last block's scale as bitsandbytes
 * computes it (the maximum over the real values).
 *
 * @param map the dynamic map as a [256, 1] table (a gather through an embedding lookup: DJL has no indexed take that
 *     autograd-free code can rely on across engines)
 * @param bounds the 255 midpoints between neighbouring map values, padded to [256, 1]
 */
public record Blockwise8bit(NDArray map, NDArray bounds) implements AutoCloseable {
    public static final int BLOCK = 256;
    /** bitsandbytes' min_8bit_size: optimizers keep fp32 state for smaller tensors (quantizing them would save little and cost much). */
    public static final long MIN_8BIT_SIZE = 4096;
    /**
     * Optimizer state is updated this many values at a time (small tensors grouped up to it, large ones in ranges of it):
     * fp32 temporaries of 1 MB each. On a CPU, glibc keeps freed blocks of that size in the heap: measured, 1M-value
     * ranges left 0.4-0.6 GB there after a few steps, 256K-value ranges 0.14-0.28 GB, 64K-value ranges no less.
     */
    public static final long RANGE_VALUES = 1L << 18;

    /** The codec of {@code values} (a sorted 256-value map, e.g. {@link DynamicMap#SIGNED}), its tables in {@code m}. */
    public static Blockwise8bit of(float[] values, NDManager m) {
        float[] mids = new float[BLOCK];
        for (int i = 0; i + 1 < values.length; i++) mids[i] = (values[i] + values[i + 1]) / 2; // fp32, as (code[:-1] + code[1:]) / 2
        mids[BLOCK - 1] = Float.POSITIVE_INFINITY; // never read: the search looks at entries 0..254
        return new Blockwise8bit(Tensors.of(m, values, new Shape(BLOCK, 1)), Tensors.of(m, mids, new Shape(BLOCK, 1)));
    }

    /** Blocks that hold {@code n} values. */
    public static long blocks(long n) {
        return (n + BLOCK - 1) / BLOCK;
    }

    /** Bytes a tensor of {@code n} values takes quantized: one code per value (padded to whole blocks) and an fp32 scale per block. */
    public static long bytes(long n) {
        return blocks(n) * (BLOCK + 4);
    }

    /** Codes and scales of a quantized tensor. */
    public record Quantized(NDArray codes, NDArray absmax) {}

    /**
     * {@code x} quantized: codes UINT8 [blocks * 256] and absmax FLOAT32 [blocks], in x's manager. Each scaled value
     * goes to the code of the first midpoint it does not exceed ({@code torch.bucketize}), found by a binary search of 8
     * table lookups.
     */
    public Quantized quantize(NDArray x) {
        NDManager m = x.getManager();
        long n = x.size();
        long blocks = blocks(n);
        long padded = blocks * BLOCK;
        // temporaries are closed as soon as they are used: a group of values holds several of them at once otherwise
        try (NDArray grouped = (padded > n ? x.reshape(n).concat(m.zeros(new Shape(padded - n))) : x).reshape(blocks, BLOCK);
             NDArray magnitudes = grouped.abs()) {
            NDArray absmax = magnitudes.max(new int[] {1});
            NDArray scaled;
            try (NDArray floor = absmax.maximum(1e-38f);
                 NDArray inverse = m.ones(new Shape(blocks)).divi(floor); // 1 / absmax.clamp(min=1e-38), as bitsandbytes scales
                 NDArray product = grouped.mul(inverse.reshape(blocks, 1));
                 NDArray clipped = product.clip(-1f, 1f)) {
                scaled = clipped.reshape(padded);
            }
            try (scaled; NDArray index = m.zeros(new Shape(padded), DataType.INT32)) {
                for (int step = BLOCK / 2; step >= 1; step /= 2) {
                    // index counts the midpoints below the value; is the (index + step)-th one below it too? then add step
                    try (NDArray probe = index.add(step - 1);
                         NDList looked = Embedding.embedding(probe, bounds, SparseFormat.DENSE);
                         NDArray mid = looked.singletonOrThrow().reshape(padded);
                         NDArray above = scaled.gt(mid);
                         NDArray counted = above.toType(DataType.INT32, false)) {
                        index.addi(counted.muli(step));
                    }
                }
                return new Quantized(index.toType(DataType.UINT8, false), absmax);
            }
        }
    }

    /** The fp32 values of {@code codes} and {@code absmax} as a tensor of {@code shape}, in the codes' manager. */
    public NDArray dequantize(NDArray codes, NDArray absmax, Shape shape) {
        long blocks = absmax.size();
        NDArray scaled;
        try (NDArray indices = codes.toType(DataType.INT32, false);
             NDList looked = Embedding.embedding(indices, map, SparseFormat.DENSE);
             NDArray values = looked.singletonOrThrow().reshape(blocks, BLOCK)) {
            scaled = values.mul(absmax.reshape(blocks, 1)).reshape(blocks * BLOCK);
        }
        return (blocks * BLOCK == shape.size() ? scaled : scaled.get("0:" + shape.size())).reshape(shape);
    }

    @Override
    public void close() {
        map.close();
        bounds.close();
    }
}
