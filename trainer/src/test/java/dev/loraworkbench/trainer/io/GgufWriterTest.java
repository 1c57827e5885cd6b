package dev.loraworkbench.trainer.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The file's frame (llama.cpp itself reads whole exports in GgufExportTest) and what an interrupted export leaves. */
class GgufWriterTest {
    @TempDir Path dir;

    @Test
    void headerCountsAndAlignedData() throws IOException {
        Path file = dir.resolve("m.gguf");
        var specs = List.of(new GgufWriter.TensorSpec("a", new long[] {3}, GgufWriter.TensorType.F32),
                new GgufWriter.TensorSpec("b", new long[] {2, 32}, GgufWriter.TensorType.Q8_0));
        try (GgufWriter w = new GgufWriter(file, new GgufWriter.Metadata().string("general.architecture", "qwen2"), specs)) {
            w.write("a", new float[] {1, 2, 3});
            w.write("b", new float[64]);
        }
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(GgufWriter.MAGIC, b.getInt(0));
        assertEquals(3, b.getInt(4));
        assertEquals(2, b.getLong(8), "tensors");
        assertEquals(1, b.getLong(16), "metadata entries");
        // data: a (12 bytes, padded to 32), then b: 2 blocks of 34 bytes, padded to 96
        long dataStart = Files.size(file) - 32 - 96;
        assertEquals(0, dataStart % 32, "the data section starts aligned");
        assertEquals(1f, b.getFloat((int) dataStart), "a's first value at the aligned start of the data");
        assertEquals(3f, b.getFloat((int) dataStart + 8));
    }

    @Test
    void anExportCutShortLeavesNoFile() throws IOException {
        Path file = dir.resolve("cut.gguf");
        var specs = List.of(new GgufWriter.TensorSpec("a", new long[] {2}, GgufWriter.TensorType.F32),
                new GgufWriter.TensorSpec("b", new long[] {2}, GgufWriter.TensorType.F32));
        GgufWriter w = new GgufWriter(file, new GgufWriter.Metadata(), specs);
        w.write("a", new float[2]);
        IOException e = assertThrows(IOException.class, w::close);
        assertTrue(e.getMessage().contains("only 1 of 2 tensors"), e.getMessage());
        assertFalse(Files.exists(file));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(), s.toList(), "no temporary file left either");
        }
        assertThrows(IllegalArgumentException.class, () -> new GgufWriter.TensorSpec("q", new long[] {4, 30}, GgufWriter.TensorType.Q4_0),
                "a row that is no multiple of 32 cannot be q4_0");
    }
}
