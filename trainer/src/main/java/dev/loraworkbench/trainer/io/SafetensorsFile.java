package dev.loraworkbench.trainer.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Memory-mapped, bounds-checked safetensors reader. The header is validated up front (length,
 * dtypes, offsets inside the file, sizes matching shapes, no overlaps); tensor data is mapped one
 * tensor at a time so no file-sized heap buffer is ever needed.
 */
public final class SafetensorsFile implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L << 20;

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) {
        FileChannel ch = null;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
            long size = ch.size();
            if (size < 8) throw bad(path, "file is " + size + " bytes, too short for a safetensors header (truncated?)");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.getLong(0);
            if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
                throw bad(path, "header length " + headerLen + " does not fit the file size " + size + " (truncated or not safetensors)");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLen);
            readFully(ch, header, 8);
            JsonNode root;
            try {
                root = JSON.readTree(header.array());
            } catch (IOException e) {
                throw bad(path, "header is not valid JSON (" + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? dev.loraworkbench.datasets.JsonProblems.message(j) : e.getMessage()) + ")");
            }
            if (root == null || !root.isObject()) throw bad(path, "header is not a JSON object");
            long dataStart = 8 + headerLen;
            long dataSize = size - dataStart;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                var e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    e.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                tensors.put(e.getKey(), parseEntry(path, e.getKey(), e.getValue(), dataSize));
            }
            checkNoOverlap(path, tensors.values());
            return new SafetensorsFile(path, ch, dataStart, Collections.unmodifiableMap(tensors), metadata);
        } catch (IOException e) {
            closeQuietly(ch);
            throw bad(path, "cannot read (" + e.getMessage() + ")");
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode n, long dataSize) {
        JsonNode dt = n.get("dtype");
        JsonNode shapeNode = n.get("shape");
        JsonNode offsets = n.get("data_offsets");
        if (dt == null || shapeNode == null || offsets == null || !shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
            throw bad(path, "tensor '" + name + "': header entry needs dtype, shape and data_offsets [begin, end]");
        }
        DType dtype;
        try {
            dtype = DType.valueOf(dt.asText());
        } catch (IllegalArgumentException e) {
            throw bad(path, "tensor '" + name + "': dtype " + dt.asText() + " is not supported (expected F32, F16, BF16, U8 or I64)");
        }
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0) throw bad(path, "tensor '" + name + "': negative or non-numeric dimension in shape " + shapeNode);
        }
        long begin = offsets.get(0).asLong(-1);
        long end = offsets.get(1).asLong(-1);
        TensorInfo info = new TensorInfo(name, dtype, shape, begin, end);
        if (begin < 0 || end < begin || end > dataSize) {
            throw bad(path, "tensor '" + name + "': data_offsets [" + begin + ", " + end + "] lie outside the data section of "
                    + dataSize + " bytes (file truncated?)");
        }
        long needed;
        try {
            long numel = 1;
            for (long d : shape) numel = Math.multiplyExact(numel, d);
            needed = Math.multiplyExact(numel, (long) dtype.bytes);
        } catch (ArithmeticException overflow) { // [2^40, 2^40] once passed as needing "0" bytes
            throw bad(path, "tensor '" + name + "': shape " + java.util.Arrays.toString(shape) + " x " + dtype
                    + " has more bytes than any file can hold (a corrupt header?)");
        }
        if (end - begin != needed) {
            throw bad(path, "tensor '" + name + "': " + (end - begin) + " bytes of data but shape " + java.util.Arrays.toString(shape)
                    + " x " + dtype + " needs " + needed);
        }
        return info;
    }

    private static void checkNoOverlap(Path path, java.util.Collection<TensorInfo> infos) {
        List<TensorInfo> sorted = new ArrayList<>(infos);
        sorted.sort((a, b) -> Long.compare(a.begin(), b.begin()));
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).begin() < sorted.get(i - 1).end()) {
                throw bad(path, "tensors '" + sorted.get(i - 1).name() + "' and '" + sorted.get(i).name() + "' overlap");
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, position + buf.position());
            if (n < 0) throw new IOException("unexpected end of file");
        }
    }

    private static CheckpointFormatException bad(Path path, String message) {
        return new CheckpointFormatException(path + ": " + message);
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            if (ch != null) ch.close();
        } catch (IOException ignored) {
            // nothing more to do: the open already failed
        }
    }

    public Path path() { return path; }

    public Map<String, TensorInfo> tensors() { return tensors; }

    public Map<String, String> metadata() { return metadata; }

    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) throw bad(path, "no tensor named '" + name + "'");
        return info;
    }

    /** The tensor's raw little-endian bytes, memory-mapped (read-only). */
    public ByteBuffer bytes(String name) {
        TensorInfo info = info(name);
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + info.begin(), info.end() - info.begin()).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw bad(path, "cannot map tensor '" + name + "' (" + e.getMessage() + ")");
        }
    }

    /** The tensor widened to fp32 (F32, F16 and BF16 are exact in fp32). */
    public float[] floats(String name) {
        TensorInfo info = info(name);
        if (info.numel() > Integer.MAX_VALUE - 8) throw bad(path, "tensor '" + name + "' is too large to widen on the heap");
        float[] out = new float[(int) info.numel()];
        floats(name, 0, out, out.length);
        return out;
    }

    /**
     * Elements [from, from + count) of the tensor widened to fp32 into dst[0, count): loads stream through a small
     * buffer. Only that range is mapped, so a chunked read of a large tensor never maps it whole (a mapping lives
     * until the GC finds it: thousands of whole-tensor mappings would pile up while a 32B model loads).
     */
    public void floats(String name, long from, float[] dst, int count) {
        TensorInfo info = info(name);
        if (from < 0 || from + count > info.numel()) throw new IndexOutOfBoundsException(name + ": [" + from + ", " + (from + count) + ") of " + info.numel());
        int size = info.dtype().bytes;
        ByteBuffer b;
        try {
            b = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + info.begin() + from * size, (long) count * size).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw bad(path, "cannot map tensor '" + name + "' (" + e.getMessage() + ")");
        }
        switch (info.dtype()) {
            case F32 -> b.asFloatBuffer().get(dst, 0, count);
            case BF16 -> { for (int i = 0; i < count; i++) dst[i] = Floats.bf16ToFloat(b.getShort(2 * i)); }
            case F16 -> { for (int i = 0; i < count; i++) dst[i] = Floats.f16ToFloat(b.getShort(2 * i)); }
            default -> throw bad(path, "tensor '" + name + "' has dtype " + info.dtype() + ", expected a float type");
        }
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }
}
