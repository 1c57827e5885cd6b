package dev.loraworkbench.trainer.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

class TensorsTest {
    /** A tensor larger than one copy chunk is filled in row blocks and comes out identical. */
    @Test
    void largeTensorsAreCopiedInRowBlocks() {
        int rows = 5000, cols = (int) (Tensors.STREAM_FLOATS / 4096) + 3; // > STREAM_FLOATS in total, rows not a multiple of the block
        float[] data = new float[rows * cols];
        for (int i = 0; i < data.length; i++) data[i] = (i % 9973) * 0.5f - i % 7;
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray a = Tensors.of(m, data, new Shape(rows, cols));
            float[] back = a.toFloatArray();
            assertEquals(data.length, back.length);
            for (int i = 0; i < data.length; i += 7919) assertEquals(data[i], back[i], 0f, "at " + i);
            assertEquals(data[data.length - 1], back[back.length - 1], 0f);
            for (int i = 0; i < data.length; i++) if (data[i] != back[i]) throw new AssertionError("differs at " + i);
        }
    }

    /** Bytes and longs through the reused staging buffer, also past its size, come out identical. */
    @Test
    void bytesAndLongsRoundTripThroughTheStagingBuffer() {
        byte[] big = new byte[Tensors.STAGE_BYTES * 2 + 77];
        for (int i = 0; i < big.length; i++) big[i] = (byte) (i * 31 + i / 1000);
        long[] ids = {3, 1L << 40, -5, 7};
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            byte[] back = Tensors.bytes(m, big).toByteArray();
            assertEquals(big.length, back.length);
            for (int i = 0; i < big.length; i++) if (big[i] != back[i]) throw new AssertionError("byte differs at " + i);
            NDArray small = Tensors.bytes(m, new byte[] {1, (byte) 200});
            assertEquals(ai.djl.ndarray.types.DataType.UINT8, small.getDataType());
            org.junit.jupiter.api.Assertions.assertArrayEquals(ids, Tensors.of(m, ids, new Shape(2, 2)).toLongArray());
        }
    }
}
