package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LossScalerTest {
    @Test
    void overflowSkipsAndHalvesGoodStepsGrowAndStateRoundTrips() {
        LossScaler s = new LossScaler();
        assertEquals(65536.0, s.scale());
        assertFalse(s.update(false), "an overflowing step is skipped");
        assertEquals(32768.0, s.scale());
        for (int i = 0; i < LossScaler.GROWTH_INTERVAL - 1; i++) assertTrue(s.update(true));
        assertEquals(32768.0, s.scale(), "not yet grown");
        assertTrue(s.update(true));
        assertEquals(65536.0, s.scale(), "doubled after the growth interval of good steps");
        s.update(true);
        LossScaler restored = new LossScaler();
        restored.restore(s.state());
        assertEquals(s.state(), restored.state());
        for (int i = 0; i < 40; i++) s.update(false);
        assertEquals(1.0, s.scale(), "never below 1");
    }

    /** The scale travels in the optimizer file's metadata, so a resumed fp16 run skips and grows as the straight one. */
    @Test
    void scalerStateIsSavedWithTheOptimizer(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager("PyTorch")) {
            ai.djl.ndarray.NDArray p = m.ones(new ai.djl.ndarray.types.Shape(2, 3));
            p.setName("p");
            AdamW adam = new AdamW(new ai.djl.ndarray.NDList(p), 0, m);
            LossScaler s = new LossScaler();
            s.update(false);
            s.update(true);
            adam.writeState(dir.resolve("optimizer.safetensors"), s.state());
            LossScaler restored = new LossScaler();
            restored.restore(new AdamW(new ai.djl.ndarray.NDList(p), 0, m).readState(dir.resolve("optimizer.safetensors")));
            assertEquals(32768.0, restored.scale());
            assertEquals(s.state(), restored.state());
        }
    }
}
