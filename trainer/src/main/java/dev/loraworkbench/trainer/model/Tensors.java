package dev.loraworkbench.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Java data -> NDArray in memory that libtorch owns. DJL's {@code create} wraps a JVM direct buffer with
 * {@code torch::from_blob} (no copy; the memory lives as long as that Java object and counts against the
 * JVM's direct-memory limit). Copying into libtorch's allocator once makes every tensor's lifetime a
 * libtorch matter and keeps model size independent of -XX:MaxDirectMemorySize.
 */
public final class Tensors {
    private Tensors() {}

    /** Rows per copy when a tensor is too large for one JVM direct buffer (DJL sizes those with an int). */
    static final long CHUNK_FLOATS = 1L << 26;

    public static NDArray of(NDManager m, float[] data, Shape shape) {
        if (data.length <= CHUNK_FLOATS || shape.dimension() < 2) {
            try (NDArray blob = m.create(data, shape)) {
                return blob.duplicate();
            }
        }
        // e.g. a 152064 x 5120 embedding (3.1 GB): fill a libtorch tensor in row blocks, one small buffer at a time
        long rows = shape.get(0);
        int rowSize = (int) (data.length / rows);
        int rowsPerChunk = (int) Math.max(1, CHUNK_FLOATS / rowSize);
        NDArray full = m.zeros(shape);
        for (long r = 0; r < rows; r += rowsPerChunk) {
            int n = (int) Math.min(rowsPerChunk, rows - r);
            long[] dims = shape.getShape().clone();
            dims[0] = n;
            try (NDArray chunk = m.create(java.nio.FloatBuffer.wrap(data, (int) (r * rowSize), n * rowSize), new Shape(dims))) {
                full.set(new ai.djl.ndarray.index.NDIndex(r + ":" + (r + n)), chunk);
            }
        }
        return full;
    }

    /**
     * A 0-d constant for arithmetic inside the autograd graph. Never use DJL's {@code x.mul(Number)} there:
     * it wraps the number in a from_blob tensor and closes it right after the op, while autograd keeps that
     * tensor for the backward pass; once the JVM collects the buffer, backward reads freed memory (sporadic
     * NaN / huge gradients, only when the GC runs, so only in longer runs).
     */
    public static NDArray scalar(NDManager m, double value) {
        try (NDArray blob = m.create((float) value)) {
            return blob.duplicate();
        }
    }

    /** Raw bytes as a UINT8 array (DJL's create(byte[]) would make INT8). */
    public static NDArray bytes(NDManager m, byte[] data) {
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocateDirect(data.length);
        buf.put(data).rewind();
        try (NDArray blob = m.create(buf, new Shape(data.length), ai.djl.ndarray.types.DataType.UINT8)) {
            return blob.duplicate();
        }
    }

    /**
     * x in {@code type} inside the autograd graph. DJL's {@code toType} runs under a NoGradGuard (torchTo in
     * its JNI) and would cut the graph; an in-place add into a fresh buffer of the target type records a cast
     * whose backward hands the gradient back in x's own dtype.
     */
    public static NDArray castInGraph(NDArray x, ai.djl.ndarray.types.DataType type) {
        if (x.getDataType() == type) return x;
        NDArray out = x.getManager().zeros(x.getShape(), type);
        out.addi(x);
        return out;
    }

    /** A half-precision result back in fp32, by type promotion against a 1-element fp32 zero (recorded by autograd). */
    public static NDArray float32InGraph(NDArray x) {
        if (x.getDataType() == ai.djl.ndarray.types.DataType.FLOAT32) return x;
        return x.add(x.getManager().zeros(new Shape(1)));
    }

    public static NDArray of(NDManager m, long[] data, Shape shape) {
        try (NDArray blob = m.create(data, shape)) {
            return blob.duplicate();
        }
    }
}
