package dev.loraworkbench.trainer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

class TensorsTest {
    /** A tensor larger than one copy chunk is filled in row blocks and comes out identical. */
    @Test
    void largeTensorsAreCopiedInRowBlocks() {
        int rows = 5000, cols = (int) (Tensors.CHUNK_FLOATS / 4096) + 3; // > CHUNK_FLOATS in total, rows not a multiple of the block
        float[] data = new float[rows * cols];
        for (int i = 0; i < data.length; i++) data[i] = (i % 9973) * 0.5f - i % 7;
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray a = Tensors.of(m, data, new Shape(rows, cols));
            float[] back = a.toFloatArray();
            assertEquals(data.length, back.length);
            for (int i = 0; i < data.length; i += 7919) assertEquals(data[i], back[i], 0f, "at " + i);
            assertEquals(data[data.length - 1], back[back.length - 1], 0f);
        }
    }
}
