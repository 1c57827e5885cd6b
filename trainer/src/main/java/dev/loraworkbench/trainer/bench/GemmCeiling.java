package dev.loraworkbench.trainer.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/** The fp32 GEMM FLOP/s of this libtorch on this machine: what model FLOP/s are reported against, measured in the same JVM. */
public final class GemmCeiling {
    private GemmCeiling() {}

    /** Best of several timed square matmuls, after a throwaway warm-up (the first shape timed in a JVM reads low). */
    public static double measure(int n) {
        Engine.getEngine("PyTorch");
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray a = m.randomNormal(new Shape(n, n));
            NDArray b = m.randomNormal(new Shape(n, n));
            double best = 0;
            for (int i = 0; i < 12; i++) {
                try (NDManager scope = m.newSubManager()) {
                    a.tempAttach(scope);
                    long t0 = System.nanoTime();
                    a.matMul(b).toFloatArray();
                    double s = (System.nanoTime() - t0) / 1e9;
                    if (i >= 2) best = Math.max(best, 2.0 * n * n * n / s);
                }
            }
            return best;
        }
    }
}
