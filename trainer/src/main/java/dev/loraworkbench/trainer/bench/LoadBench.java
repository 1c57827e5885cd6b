package dev.loraworkbench.trainer.bench;

import ai.djl.ndarray.NDManager;
import dev.loraworkbench.trainer.io.TensorInfo;
import dev.loraworkbench.trainer.loader.ModelLoader;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

/**
 * Quantize-on-load against just reading: one pass widening every stored tensor through the load path's chunk
 * buffer (the floor any load pays), then the real load with quantization, with the process's anonymous memory
 * (heap + native, what the load allocates) and file-backed pages (the checkpoint's mapped pages) after each.
 */
public final class LoadBench {
    private LoadBench() {}

    public static void run(Path model, Quantization quantization, PrintStream out) throws IOException {
        try (HfCheckpoint ckpt = HfCheckpoint.open(model)) {
            long bytes = ckpt.storedBytes();
            long numel = ckpt.tensorsInOrder().stream().mapToLong(TensorInfo::numel).sum();
            out.printf("model    %s: %d tensors, %,d params, %.1f MB stored; before: %s%n", model, ckpt.tensorsInOrder().size(), numel, bytes / 1e6, memory());
            long t0 = System.nanoTime();
            float[] buf = Tensors.chunkBuffer();
            double checksum = 0;
            for (TensorInfo t : ckpt.tensorsInOrder()) {
                for (long from = 0; from < t.numel(); from += buf.length) {
                    int n = (int) Math.min(buf.length, t.numel() - from);
                    ckpt.floats(t.name(), from, buf, n);
                    checksum += buf[n - 1];
                }
            }
            double read = (System.nanoTime() - t0) / 1e9;
            out.printf("read     widen every tensor to fp32: %.2f s, %.0f MB/s (checksum %.3g); after: %s%n", read, bytes / read / 1e6, checksum, memory());
            try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                long t1 = System.nanoTime();
                DecoderWeights w = ModelLoader.weights(ckpt, m, quantization);
                double load = (System.nanoTime() - t1) / 1e9;
                out.printf("load     %s: %.2f s, %.0f MB/s = %.2fx the read time; %,d params in memory; after: %s%n",
                        quantization == null ? "fp32" : quantization.name() + (quantization.doubleQuant() ? " + double quant" : ""),
                        load, bytes / load / 1e6, load / read, w.parameterCount(), memory());
            }
        }
    }

    /** RssAnon (heap + native allocations) and RssFile (mapped file pages, page cache) of this process, and its peak RSS, in MB. */
    static String memory() {
        double mb = 1.048576; // TrainingBench.rssMb gives MiB
        return String.format("anon %.0f MB, file %.0f MB, peak RSS so far %.0f MB", TrainingBench.rssMb("RssAnon") * mb,
                TrainingBench.rssMb("RssFile") * mb, TrainingBench.rssMb("VmHWM") * mb);
    }
}
