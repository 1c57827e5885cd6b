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

    public static NDArray of(NDManager m, long[] data, Shape shape) {
        try (NDArray blob = m.create(data, shape)) {
            return blob.duplicate();
        }
    }
}
