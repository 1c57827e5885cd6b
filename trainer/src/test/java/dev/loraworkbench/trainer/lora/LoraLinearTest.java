package dev.loraworkbench.trainer.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.model.FrozenLinear;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** LoRA projection against a naive Java triple loop: y = W x + b + (alpha/r) B A x. */
class LoraLinearTest {
    @Test
    void matchesNaiveLoop() {
        int tokens = 5, in = 12, out = 7, r = 3;
        Random rnd = new Random(7);
        float[] x = randoms(rnd, tokens * in), w = randoms(rnd, out * in), b = randoms(rnd, out);
        float[] a = randoms(rnd, r * in), bb = randoms(rnd, out * r);
        float scale = 16f / r;
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            var pair = new LoraAdapter.Pair(m.create(a, new Shape(r, in)), m.create(bb, new Shape(out, r)));
            var linear = new LoraLinear(new FrozenLinear(m.create(w, new Shape(out, in)), m.create(b, new Shape(out))), pair, scale, 0.3);
            NDArray y = linear.apply(m.create(x, new Shape(1, tokens, in)), false); // dropout is off outside training
            float[] got = y.toFloatArray();
            for (int t = 0; t < tokens; t++) {
                for (int o = 0; o < out; o++) {
                    double base = b[o];
                    for (int i = 0; i < in; i++) base += w[o * in + i] * x[t * in + i];
                    double lora = 0;
                    for (int k = 0; k < r; k++) {
                        double ax = 0;
                        for (int i = 0; i < in; i++) ax += a[k * in + i] * x[t * in + i];
                        lora += bb[o * r + k] * ax;
                    }
                    assertEquals(base + scale * lora, got[t * out + o], 1e-5, "token " + t + " out " + o);
                }
            }
        }
    }

    /**
     * Regression for a DJL pitfall: {@code x.mul(Number)} frees the scalar autograd saved for backward once the
     * JVM collects it. Collect garbage and churn direct memory between forward and backward: the gradient of
     * scale·B(Ax) must still be exact.
     */
    @Test
    void gradientsSurviveGarbageCollectionBetweenForwardAndBackward() {
        int in = 64, out = 48, r = 4;
        Random rnd = new Random(11);
        float[] x = randoms(rnd, 16 * in), w = randoms(rnd, out * in), a = randoms(rnd, r * in), bb = randoms(rnd, out * r);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray b = m.create(bb, new Shape(out, r));
            b.setRequiresGradient(true);
            var pair = new LoraAdapter.Pair(m.create(a, new Shape(r, in)), b);
            NDArray xs = m.create(x, new Shape(16, in));
            float[] expected = null;
            for (int round = 0; round < 20; round++) {
                try (NDManager step = m.newSubManager(); var collector = ai.djl.engine.Engine.getEngine("PyTorch").newGradientCollector()) {
                    step.tempAttachAll(b);
                    NDArray y = new LoraLinear(new FrozenLinear(m.create(w, new Shape(out, in)), null), pair, 2.5f, 0).apply(xs, true);
                    for (int i = 0; i < 5; i++) {
                        System.gc();
                        for (int j = 0; j < 200; j++) java.nio.ByteBuffer.allocateDirect(64).putFloat(0, Float.NaN);
                    }
                    collector.backward(y.sum());
                    float[] g = b.getGradient().toFloatArray();
                    ai.djl.pytorch.jni.JniUtils.zeroGrad((ai.djl.pytorch.engine.PtNDArray) b);
                    if (expected == null) expected = g;
                    for (int i = 0; i < g.length; i++) assertEquals(expected[i], g[i], 0f, "round " + round);
                }
            }
            // d/dB sum(2.5 * B A x) = 2.5 * sum_t (A x_t)ᵀ, the same for every output row
            for (int k = 0; k < r; k++) {
                double s = 0;
                for (int t = 0; t < 16; t++) for (int i = 0; i < in; i++) s += a[k * in + i] * x[t * in + i];
                assertEquals(2.5 * s, expected[k], 1e-3);
            }
        }
    }

    @Test
    void rsLoraScaleIsAlphaOverSqrtR() {
        var s = new LoraAdapter.LoraSettings(16, 32, 0, java.util.List.of("q_proj"), true);
        assertEquals(8f, s.scale());
        assertEquals(2f, new LoraAdapter.LoraSettings(16, 32, 0, java.util.List.of("q_proj"), false).scale());
    }

    private static float[] randoms(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }
}
