package dev.loraworkbench.trainer.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Writes a safetensors file atomically (temporary file, fsync, rename). Tensors keep insertion order. */
public final class SafetensorsWriter {
    private final Map<String, Entry> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>(Map.of("format", "pt"));

    private record Entry(DType dtype, long[] shape, byte[] data) {}

    public SafetensorsWriter putF32(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return put(name, DType.F32, shape, b.array());
    }

    /** Rounds fp32 values to bf16 (round to nearest even). */
    public SafetensorsWriter putBf16(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putShort(Floats.floatToBf16(v));
        return put(name, DType.BF16, shape, b.array());
    }

    public SafetensorsWriter put(String name, DType dtype, long[] shape, byte[] data) {
        long numel = 1;
        for (long d : shape) numel *= d;
        if (numel * dtype.bytes != data.length) {
            throw new IllegalArgumentException(name + ": " + data.length + " bytes do not match shape x " + dtype);
        }
        if (tensors.putIfAbsent(name, new Entry(dtype, shape.clone(), data)) != null) {
            throw new IllegalArgumentException("duplicate tensor name " + name);
        }
        return this;
    }

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public void write(Path file) throws IOException {
        List<StreamingSafetensorsWriter.Spec> specs = new ArrayList<>();
        tensors.forEach((name, e) -> specs.add(new StreamingSafetensorsWriter.Spec(name, e.dtype(), e.shape())));
        byte[] header = StreamingSafetensorsWriter.header(specs, metadata);
        AtomicFiles.write(file, out -> {
            out.write(header);
            for (Entry e : tensors.values()) out.write(e.data());
        });
    }
}
