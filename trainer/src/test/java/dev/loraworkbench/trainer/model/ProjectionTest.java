package dev.loraworkbench.trainer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.testing.Fixtures;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProjectionTest {
    /** The golden Qwen2: hidden 96, 6 heads of 16 over 2 kv heads (GQA), intermediate 192, q/k/v bias. */
    private final ModelConfig qwen2 = ModelConfig.load(Fixtures.golden("qwen2-golden").resolve("model/config.json"));

    @Test
    void shapesFollowTheConfig() {
        assertEquals(List.of(96, 96), List.of(Projection.Q.in(qwen2), Projection.Q.out(qwen2)));
        assertEquals(List.of(96, 32), List.of(Projection.K.in(qwen2), Projection.K.out(qwen2)));
        assertEquals(List.of(96, 32), List.of(Projection.V.in(qwen2), Projection.V.out(qwen2)));
        assertEquals(List.of(96, 96), List.of(Projection.O.in(qwen2), Projection.O.out(qwen2)));
        assertEquals(List.of(96, 192), List.of(Projection.GATE.in(qwen2), Projection.GATE.out(qwen2)));
        assertEquals(List.of(96, 192), List.of(Projection.UP.in(qwen2), Projection.UP.out(qwen2)));
        assertEquals(List.of(192, 96), List.of(Projection.DOWN.in(qwen2), Projection.DOWN.out(qwen2)));
    }

    @Test
    void namesAndBiasesAreHuggingFaces() {
        assertEquals("model.layers.3.self_attn.k_proj", Projection.K.modulePath(3));
        assertEquals("model.layers.0.mlp.down_proj", Projection.DOWN.modulePath(0));
        assertEquals(List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), Projection.NAMES);
        assertEquals(Projection.NAMES, Projection.expandTargets(List.of("all-linear")));
        assertEquals(List.of("q_proj"), Projection.expandTargets(List.of("q_proj")));
        assertEquals(Projection.UP, Projection.byName("up_proj").orElseThrow());
        assertTrue(Projection.byName("lm_head").isEmpty());
        assertTrue(qwen2.qkvBias());
        for (Projection p : Projection.values()) {
            assertEquals(p == Projection.Q || p == Projection.K || p == Projection.V, p.hasBias(qwen2), p.hfName());
        }
    }

    @Test
    void everyProjectionOfTheCheckpointIsExpected() {
        var names = DecoderWeights.expectedNames(qwen2, true);
        for (int layer = 0; layer < qwen2.numLayers(); layer++) {
            for (Projection p : Projection.values()) {
                assertTrue(names.contains(p.modulePath(layer) + ".weight"));
                assertEquals(p.hasBias(qwen2), names.contains(p.modulePath(layer) + ".bias"));
            }
        }
        assertFalse(DecoderWeights.expectedNames(qwen2, false).contains(Projection.Q.modulePath(0) + ".bias"));
    }
}
