package dev.loraworkbench.trainer.tensor;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Java data -> NDArray in memory that libtorch owns. DJL's {@code create} wraps a JVM direct buffer with
 * {@code torch::from_blob} (no copy; the memory lives as long as that Java object and counts against the
 * JVM's direct-memory limit). Copying into libtorch's allocator once makes every tensor's lifetime a
 * libtorch matter and keeps model size independent of -XX:MaxDirectMemorySize.
 */
public final class Tensors {
    private Tensors() {}

    /**
     * Host -> libtorch copies go through one reused direct buffer per thread. DJL's create(float[]) allocates a
     * fresh direct buffer per call that only the garbage collector frees; loading a 135 M-parameter model that
     * way left ~1 GB of dead native memory in the process until a GC happened to run.
     */
    static final int STAGE_BYTES = 1 << 24;
    private static final ThreadLocal<ByteBuffer> STAGING = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(STAGE_BYTES).order(ByteOrder.nativeOrder()));

    /** Floats per chunk when a tensor is larger than the staging buffer. */
    public static final int STREAM_FLOATS = STAGE_BYTES / 4;
    private static final ThreadLocal<float[]> CHUNK = ThreadLocal.withInitial(() -> new float[STREAM_FLOATS]);

    /**
     * This thread's reusable heap chunk of {@link #STREAM_FLOATS} floats for widening stored tensors: a fresh 16 MB
     * array per tensor made the heap (and RSS) grow by ~1 GB while a 135 M-parameter model loaded.
     */
    public static float[] chunkBuffer() {
        return CHUNK.get();
    }

    /** The staged bytes (position 0, limit = bytes) as a libtorch-owned tensor. */
    private static NDArray copyStaged(NDManager m, ByteBuffer staged, Shape shape, DataType type) {
        try (NDArray blob = m.create(staged, shape, type)) {
            return blob.duplicate();
        }
    }

    private static NDArray stageFloats(NDManager m, float[] data, int from, int count, Shape shape) {
        ByteBuffer b = STAGING.get();
        b.clear();
        b.asFloatBuffer().put(data, from, count);
        b.limit(count * 4);
        return copyStaged(m, b, shape, DataType.FLOAT32);
    }

    public static NDArray of(NDManager m, float[] data, Shape shape) {
        if (data.length <= STREAM_FLOATS) return stageFloats(m, data, 0, data.length, shape);
        if (shape.dimension() < 2) {
            try (NDArray blob = m.create(data, shape)) { // a huge 1-d tensor: rare, let DJL stage it
                return blob.duplicate();
            }
        }
        return streamed(m, shape, (from, dst, count) -> System.arraycopy(data, (int) from, dst, 0, count));
    }

    /** Reads elements [from, from + count) of a stored tensor into dst, widened to fp32. */
    @FunctionalInterface
    public interface RangeReader {
        void read(long from, float[] dst, int count);
    }

    /**
     * A stored tensor copied into libtorch memory in row blocks of at most {@link #STREAM_FLOATS} elements, through
     * one reusable heap buffer: loading a model never holds a tensor's fp32 copy on the JVM heap, so the heap (and
     * RSS) stays flat however large the checkpoint.
     */
    public static NDArray streamed(NDManager m, Shape shape, RangeReader reader) {
        long total = shape.size();
        float[] buf = chunkBuffer();
        if (total <= STREAM_FLOATS) {
            reader.read(0, buf, (int) total);
            return stageFloats(m, buf, 0, (int) total, shape);
        }
        if (shape.dimension() < 2) {
            float[] all = new float[Math.toIntExact(total)];
            reader.read(0, all, all.length);
            return of(m, all, shape);
        }
        if (shape.size() / shape.get(0) > STREAM_FLOATS) throw new IllegalArgumentException("rows of " + shape + " exceed the staging buffer");
        long rows = shape.get(0);
        int rowSize = Math.toIntExact(total / rows);
        int rowsPerChunk = Math.max(1, STREAM_FLOATS / rowSize);
        NDArray full = m.zeros(shape);
        for (long r = 0; r < rows; r += rowsPerChunk) {
            int n = (int) Math.min(rowsPerChunk, rows - r);
            reader.read(r * rowSize, buf, n * rowSize);
            long[] dims = shape.getShape().clone();
            dims[0] = n;
            try (NDArray chunk = stageFloats(m, buf, 0, n * rowSize, new Shape(dims))) {
                full.set(new NDIndex(r + ":" + (r + n)), chunk);
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
        ByteBuffer b = STAGING.get();
        if (data.length <= STAGE_BYTES) {
            b.clear();
            b.put(data).flip();
            return copyStaged(m, b, new Shape(data.length), DataType.UINT8);
        }
        NDArray full = m.zeros(new Shape(data.length), DataType.UINT8);
        for (int from = 0; from < data.length; from += STAGE_BYTES) {
            int n = Math.min(STAGE_BYTES, data.length - from);
            b.clear();
            b.put(data, from, n).flip();
            try (NDArray chunk = copyStaged(m, b, new Shape(n), DataType.UINT8)) {
                full.set(new NDIndex(from + ":" + (from + n)), chunk);
            }
        }
        return full;
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
        if (data.length * 8L > STAGE_BYTES) {
            try (NDArray blob = m.create(data, shape)) {
                return blob.duplicate();
            }
        }
        ByteBuffer b = STAGING.get();
        b.clear();
        b.asLongBuffer().put(data);
        b.limit(data.length * 8);
        return copyStaged(m, b, shape, DataType.INT64);
    }

    /**
     * Elements from..to of one axis: x itself when that is all of it, else a view. DJL's {@code get(":, :, a:b, :")}
     * slices every axis, and in backward each slice of a graph tensor zero-fills a gradient of the whole input: one
     * axis sliced once, or not at all, keeps that to one or none.
     */
    public static NDArray narrow(NDArray x, int axis, long from, long to) {
        if (from == 0 && to == x.getShape().get(axis)) return x;
        return ai.djl.pytorch.jni.JniUtils.slice((ai.djl.pytorch.engine.PtNDArray) x, axis, from, to, 1);
    }
}
