package dev.loraworkbench.trainer.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF v3 file (llama.cpp's model format) one tensor at a time: the header, the metadata key/values and
 * every tensor's name, shape, type and offset first, then the data in the same order, each tensor aligned to
 * {@link #ALIGNMENT} bytes. Goes to a temporary file that is synced and renamed once every tensor arrived.
 * Layout from ggml's gguf.h: little-endian; strings are a uint64 length and UTF-8 bytes; dimensions are listed
 * fastest-varying first (a PyTorch [out, in] weight is ne = [in, out], with the same bytes).
 */
public final class GgufWriter implements AutoCloseable {
    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    static final int VERSION = 3;
    public static final int ALIGNMENT = 32;

    /**
     * ggml tensor types this writer encodes: ggml's enum value (ggml.h's ggml_type), values per block and bytes per block
     * (quantized types store rows in blocks of 32, see {@link GgmlQuants}, or super-blocks of 256, {@link GgmlKQuants}).
     */
    public enum TensorType {
        F32(0, 1, 4), F16(1, 1, 2), BF16(30, 1, 2),
        Q8_0(8, GgmlQuants.BLOCK, GgmlQuants.Q8_0_BYTES), Q4_0(2, GgmlQuants.BLOCK, GgmlQuants.Q4_0_BYTES),
        Q5_0(6, GgmlQuants.BLOCK, GgmlQuants.Q5_0_BYTES), Q5_1(7, GgmlQuants.BLOCK, GgmlQuants.Q5_1_BYTES),
        Q4_K(12, GgmlKQuants.QK_K, GgmlKQuants.Q4_K_BYTES), Q5_K(13, GgmlKQuants.QK_K, GgmlKQuants.Q5_K_BYTES),
        Q6_K(14, GgmlKQuants.QK_K, GgmlKQuants.Q6_K_BYTES);

        public final int id;
        public final int blockSize;
        public final int blockBytes;

        TensorType(int id, int blockSize, int blockBytes) {
            this.id = id;
            this.blockSize = blockSize;
            this.blockBytes = blockBytes;
        }

        public boolean quantized() { return blockSize > 1; }

        /** Rows of this length can be stored in this type (quantized types need whole blocks). */
        public boolean fits(long rowLength) { return rowLength % blockSize == 0; }

        /** Appends {@code x[from, from + n)} (whole blocks) in this type, little-endian. */
        public void encode(float[] x, int from, int n, ByteBuffer out) {
            switch (this) {
                case F32 -> { for (int i = from; i < from + n; i++) out.putFloat(x[i]); }
                case F16 -> { for (int i = from; i < from + n; i++) out.putShort(Floats.floatToF16(x[i])); }
                case BF16 -> { for (int i = from; i < from + n; i++) out.putShort(Floats.floatToBf16(x[i])); }
                case Q8_0 -> GgmlQuants.q8_0(x, from, n, out);
                case Q4_0 -> GgmlQuants.q4_0(x, from, n, out);
                case Q5_0 -> GgmlQuants.q5_0(x, from, n, out);
                case Q5_1 -> GgmlQuants.q5_1(x, from, n, out);
                case Q4_K -> GgmlKQuants.q4_K(x, from, n, out);
                case Q5_K -> GgmlKQuants.q5_K(x, from, n, out);
                case Q6_K -> GgmlKQuants.q6_K(x, from, n, out);
                default -> throw new IllegalStateException(name());
            }
        }

        /** n values read back from {@code in} (little-endian) as ggml converts this type to fp32. */
        public float[] decode(ByteBuffer in, int n) {
            return switch (this) {
                case Q8_0 -> GgmlQuants.dequantizeQ8_0(in, n);
                case Q4_0 -> GgmlQuants.dequantizeQ4_0(in, n);
                case Q5_0 -> GgmlQuants.dequantizeQ5_0(in, n);
                case Q5_1 -> GgmlQuants.dequantizeQ5_1(in, n);
                case Q4_K -> GgmlKQuants.dequantizeQ4_K(in, n);
                case Q5_K -> GgmlKQuants.dequantizeQ5_K(in, n);
                case Q6_K -> GgmlKQuants.dequantizeQ6_K(in, n);
                default -> {
                    float[] out = new float[n];
                    for (int i = 0; i < n; i++) {
                        out[i] = this == F32 ? in.getFloat() : this == F16 ? Floats.f16ToFloat(in.getShort()) : Floats.bf16ToFloat(in.getShort());
                    }
                    yield out;
                }
            };
        }
    }

    /** One tensor to come: {@code shape} in PyTorch order (slowest first). */
    public record TensorSpec(String name, long[] shape, TensorType type) {
        public TensorSpec {
            if (!type.fits(shape[shape.length - 1])) throw new IllegalArgumentException(name + ": rows of " + shape[shape.length - 1] + " do not fit " + type);
        }

        long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        long bytes() { return numel() / type.blockSize * type.blockBytes; }
    }

    /** Metadata in insertion order; each value's GGUF type is fixed by the method that put it. */
    public static final class Metadata {
        private final Map<String, byte[]> entries = new LinkedHashMap<>();

        public Metadata string(String key, String value) { return put(key, 8, out -> writeString(out, value)); }

        public Metadata uint32(String key, long value) { return put(key, 4, out -> out.putInt((int) value)); }

        public Metadata int32(String key, int value) { return put(key, 5, out -> out.putInt(value)); }

        public Metadata float32(String key, double value) { return put(key, 6, out -> out.putFloat((float) value)); }

        public Metadata bool(String key, boolean value) { return put(key, 7, out -> out.put((byte) (value ? 1 : 0))); }

        public Metadata strings(String key, List<String> values) {
            return put(key, 9, out -> {
                out.putInt(8).putLong(values.size());
                for (String v : values) writeString(out, v);
            });
        }

        public Metadata int32s(String key, int[] values) {
            return put(key, 9, out -> {
                out.putInt(5).putLong(values.length);
                for (int v : values) out.putInt(v);
            });
        }

        public int size() { return entries.size(); }

        private interface Body { void write(Buffer out); }

        private Metadata put(String key, int type, Body body) {
            Buffer b = new Buffer();
            writeString(b, key);
            b.putInt(type);
            body.write(b);
            if (entries.put(key, b.toByteArray()) != null) throw new IllegalArgumentException("metadata key given twice: " + key);
            return this;
        }
    }

    private final Path target;
    private final AtomicFiles.PendingFile file;
    private final OutputStream out;
    private final List<TensorSpec> specs;
    private long written; // bytes of the data section so far
    private int next;

    public GgufWriter(Path target, Metadata metadata, List<TensorSpec> specs) throws IOException {
        this.target = target;
        this.specs = List.copyOf(specs);
        byte[] header = header(metadata, this.specs);
        this.file = new AtomicFiles.PendingFile(target);
        this.out = file.out();
        try {
            out.write(header);
        } catch (IOException e) {
            file.close(); // leaves no temporary file behind
            throw e;
        }
    }

    /** Magic, version, counts, the metadata, every tensor's info, padded to the alignment the data starts at. */
    private static byte[] header(Metadata metadata, List<TensorSpec> specs) {
        Buffer head = new Buffer();
        head.putInt(MAGIC).putInt(VERSION).putLong(specs.size()).putLong(metadata.size());
        for (byte[] kv : metadata.entries.values()) head.put(kv);
        long offset = 0;
        for (TensorSpec s : specs) {
            writeString(head, s.name());
            head.putInt(s.shape().length);
            for (int d = s.shape().length - 1; d >= 0; d--) head.putLong(s.shape()[d]); // ggml: fastest-varying first
            head.putInt(s.type().id).putLong(offset);
            offset = align(offset + s.bytes());
        }
        head.put(new byte[(int) (align(head.size()) - head.size())]);
        return head.toByteArray();
    }

    static long align(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    /** Appends the next tensor (in the order of the specs), converting fp32 values to its type. */
    public void write(String name, float[] values) throws IOException {
        TensorSpec s = specs.get(next);
        if (!s.name().equals(name)) throw new IllegalStateException("expected tensor " + s.name() + ", got " + name);
        if (values.length != s.numel()) throw new IllegalArgumentException(name + ": " + values.length + " values do not fit " + s);
        int chunk = 1 << 20; // values per write, a whole number of blocks (of 32 and of 256)
        TensorType type = s.type();
        ByteBuffer b = ByteBuffer.allocate(chunk / type.blockSize * type.blockBytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int from = 0; from < values.length; from += chunk) {
            int to = Math.min(values.length, from + chunk);
            encodeInParallel(type, values, from, to - from, b);
            out.write(b.array(), 0, (to - from) / type.blockSize * type.blockBytes);
        }
        written += s.bytes();
        long padded = align(written);
        out.write(new byte[(int) (padded - written)]);
        written = padded;
        next++;
    }

    /**
     * Blocks are independent, so slices of a chunk are encoded on all cores, each into its own place in {@code out}: the
     * bytes are those of one sequential pass (a 32B's k-quant search takes over an hour on one core).
     */
    private static void encodeInParallel(TensorType type, float[] x, int from, int n, ByteBuffer out) {
        int slice = 64 * 256; // values per task: whole blocks of 32 and of 256
        java.util.stream.IntStream.range(0, (n + slice - 1) / slice).parallel().forEach(k -> {
            int start = k * slice;
            ByteBuffer place = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            place.position(start / type.blockSize * type.blockBytes);
            type.encode(x, from + start, Math.min(slice, n - start), place);
        });
    }

    @Override
    public void close() throws IOException {
        try (file) {
            if (next != specs.size()) throw new IOException(target + ": only " + next + " of " + specs.size() + " tensors were written");
            file.publish();
        }
    }

    private static void writeString(Buffer out, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.putLong(bytes.length);
        out.put(bytes);
    }

    /** A growable little-endian byte buffer. */
    private static final class Buffer {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        Buffer putInt(int v) { scratch.clear(); scratch.putInt(v); bytes.write(scratch.array(), 0, 4); return this; }

        Buffer putLong(long v) { scratch.clear(); scratch.putLong(v); bytes.write(scratch.array(), 0, 8); return this; }

        Buffer putFloat(float v) { return putInt(Float.floatToRawIntBits(v)); }

        Buffer put(byte v) { bytes.write(v); return this; }

        Buffer put(byte[] v) { bytes.write(v, 0, v.length); return this; }

        int size() { return bytes.size(); }

        byte[] toByteArray() { return bytes.toByteArray(); }
    }
}
