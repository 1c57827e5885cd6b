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
}
