package dev.loraworkbench.trainer.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes a safetensors file one tensor at a time, so a file of any size needs only one tensor in memory:
 * the header is built up front from the tensors' names, dtypes and shapes, then data is appended in the
 * same order. Goes to a temporary file that is synced and renamed on {@link #close()} once all tensors arrived.
 */
public final class StreamingSafetensorsWriter implements AutoCloseable {
    /** Name, dtype and shape of one tensor to come. */
    public record Spec(String name, DType dtype, long[] shape) {
        long bytes() {
            long n = dtype.bytes;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private final Path target;
    private final AtomicFiles.PendingFile file;
    private final OutputStream out;
    private final List<Spec> specs;
    private int next;

    public StreamingSafetensorsWriter(Path target, List<Spec> specs, Map<String, String> metadata) throws IOException {
        this.target = target;
        this.specs = List.copyOf(specs);
        byte[] header = header(this.specs, metadata);
        this.file = new AtomicFiles.PendingFile(target);
        this.out = file.out();
        try {
            out.write(header);
        } catch (IOException e) {
            file.close(); // leaves no temporary file behind
            throw e;
        }
    }

    /**
     * The file's start: 8-byte little-endian header length, then the JSON header (dtype, shape, data_offsets per
     * tensor in order, plus __metadata__), padded with spaces to a multiple of 8 as the reference writer does.
     */
    static byte[] header(List<Spec> specs, Map<String, String> metadata) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        header.set("__metadata__", json.valueToTree(metadata));
        long offset = 0;
        for (Spec s : specs) {
            ObjectNode t = header.putObject(s.name());
            t.put("dtype", s.dtype().name());
            var shape = t.putArray("shape");
            for (long d : s.shape()) shape.add(d);
            t.putArray("data_offsets").add(offset).add(offset + s.bytes());
            offset += s.bytes();
        }
        byte[] text = json.writeValueAsBytes(header);
        int padded = (text.length + 7) / 8 * 8;
        ByteBuffer out = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).put(text);
        while (out.hasRemaining()) out.put((byte) ' ');
        return out.array();
    }

    /** Appends the next tensor (in the order of the specs), converting fp32 values to its dtype. */
    public void write(String name, float[] values) throws IOException {
        Spec s = specs.get(next);
        if (!s.name().equals(name)) throw new IllegalStateException("expected tensor " + s.name() + ", got " + name);
        if (values.length * (long) s.dtype().bytes != s.bytes()) throw new IllegalArgumentException(name + ": " + values.length + " values do not fit " + s);
        int chunk = 1 << 20; // values per write: tensors of any size, one small buffer
        ByteBuffer b = ByteBuffer.allocate(chunk * s.dtype().bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int from = 0; from < values.length; from += chunk) {
            int to = Math.min(values.length, from + chunk);
            b.clear();
            for (int i = from; i < to; i++) {
                switch (s.dtype()) {
                    case F32 -> b.putFloat(values[i]);
                    case BF16 -> b.putShort(Floats.floatToBf16(values[i]));
                    case F16 -> b.putShort(Floats.floatToF16(values[i]));
                    default -> throw new IllegalArgumentException(name + ": cannot write " + s.dtype() + " from floats");
                }
            }
            out.write(b.array(), 0, b.position());
        }
        next++;
    }

    @Override
    public void close() throws IOException {
        try (file) {
            if (next != specs.size()) throw new IOException(target + ": only " + next + " of " + specs.size() + " tensors were written");
            file.publish();
        }
    }
}
