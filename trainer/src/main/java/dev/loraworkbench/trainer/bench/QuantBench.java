package dev.loraworkbench.trainer.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import dev.loraworkbench.trainer.quant.Codebook;
import dev.loraworkbench.trainer.quant.DeviceQuantized;
import dev.loraworkbench.trainer.quant.QuantizedTensor;
import dev.loraworkbench.trainer.quant.Quantizer;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.io.PrintStream;
import java.util.Random;

/** Times the NF4 path on one real-shaped weight: Java quantize, device dequantize, dequantize + linear vs plain linear. */
public final class QuantBench {
    private QuantBench() {}

    public static void run(String shapeText, int tokens, PrintStream out) {
        String[] parts = shapeText.toLowerCase().split("x");
        if (parts.length != 2) throw new dev.loraworkbench.datasets.UserError("--quantize-shape " + shapeText + ": expected OUTxIN, e.g. 27648x5120");
        int rows = Integer.parseInt(parts[0]), cols = Integer.parseInt(parts[1]);
        float[] w = new float[Math.multiplyExact(rows, cols)];
        Random r = new Random(1);
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.02);
        long t0 = System.nanoTime();
        QuantizedTensor q = Quantizer.quantize(w, new long[] {rows, cols}, Codebook.NF4, 64, true);
        double quantizeS = (System.nanoTime() - t0) / 1e9;
        out.printf("quantize %dx%d NF4 + double quant in Java: %.2f s (%.0f M params/s); %.1f MB -> %.1f MB%n", rows, cols, quantizeS,
                w.length / quantizeS / 1e6, w.length * 4 / 1e6, q.bytes() / 1e6);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            DeviceQuantized dq = DeviceQuantized.upload(q, m);
            NDArray weight = Tensors.of(m, w, new Shape(rows, cols));
            NDArray x = m.randomNormal(new Shape(tokens, cols));
            double dequant = best(3, () -> {
                try (NDManager s = m.newSubManager()) { dq.dequantize(s).toFloatArray(); }
            });
            double plain = best(3, () -> {
                try (NDManager s = m.newSubManager()) { x.tempAttach(s); Linear.linear(x, weight).singletonOrThrow().toFloatArray(); }
            });
            double fused = best(3, () -> {
                try (NDManager s = m.newSubManager()) { x.tempAttach(s); Linear.linear(x, dq.dequantize(s)).singletonOrThrow().toFloatArray(); }
            });
            out.printf("dequantize on device: %.0f ms; linear [%d x %d] x W^T: plain fp32 %.0f ms, dequantize + linear %.0f ms (%.2fx)%n",
                    dequant * 1e3, tokens, cols, plain * 1e3, fused * 1e3, fused / plain);
        }
    }

    private static double best(int times, Runnable body) {
        body.run(); // warm-up
        double best = Double.MAX_VALUE;
        for (int i = 0; i < times; i++) {
            long t0 = System.nanoTime();
            body.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }
}
