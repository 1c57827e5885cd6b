package dev.loraworkbench.trainer.device;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.loraworkbench.trainer.model.FrozenLinear;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Whether this engine can compute the frozen projections in fp16 / bf16 with gradients flowing to LoRA.
 * The stock DJL 0.36 JNI aborts the whole JVM on a BFLOAT16 tensor (its dtype switch has no case for it),
 * so the check runs in a child JVM: a crash there is an answer, not the end of the run.
 */
public final class HalfPrecision {
    private HalfPrecision() {}

    public record Probe(boolean usable, String detail) {}

    public static DataType dataType(Recipe.ComputeDtype dtype) {
        return switch (dtype) {
            case FP32 -> DataType.FLOAT32;
            case FP16 -> DataType.FLOAT16;
            case BF16 -> DataType.BFLOAT16;
        };
    }

    /** Refuses a compute dtype the engine cannot run, with the reason and the way out; fp32 always passes. */
    public static void require(Recipe.ComputeDtype dtype, Device device) {
        if (dtype == Recipe.ComputeDtype.FP32) return;
        Probe p = probe(dataType(dtype), device);
        if (p.usable()) return;
        String fix = dtype == Recipe.ComputeDtype.BF16
                ? (EngineJni.loadedIsBf16Patched() ? "this engine's JNI has the bf16 patch but its libtorch cannot run bf16 here"
                        : "bf16 needs the patched engine JNI from trainer/scripts/setup-spark.sh" + (device.isGpu() ? "" : " --cpu"))
                        + "; or use compute_dtype: fp32" + (device.isGpu() ? " or fp16" : "")
                : "use compute_dtype: fp32";
        throw new DeviceException("quantization.compute_dtype: " + dtype.name().toLowerCase(java.util.Locale.ROOT) + " is not usable on "
                + ComputeDevice.name(device) + " with this engine (" + p.detail() + "); " + fix);
    }

    /** Runs {@link #main} in a child JVM with this JVM's class path, engine settings and environment. */
    public static Probe probe(DataType type, Device device) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String key : new String[] {"ai.djl.offline", "PYTORCH_LIBRARY_PATH", "PYTORCH_VERSION", "PYTORCH_FLAVOR", "DJL_CACHE_DIR"}) {
            String v = System.getProperty(key);
            if (v != null) cmd.add("-D" + key + "=" + v);
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(HalfPrecision.class.getName());
        cmd.add(type.name());
        cmd.add(device.getDeviceType());
        cmd.add(Integer.toString(device.getDeviceId()));
        Path log = null;
        try {
            // output to a file, not a pipe: reading a pipe would block past the timeout if the child hung (e.g. CUDA init)
            log = java.nio.file.Files.createTempFile("lora-workbench-probe", ".log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Probe(false, "the probe did not finish in 120 s");
            }
            if (p.exitValue() == 0) return new Probe(true, type + " matmul with gradients works");
            String why = java.nio.file.Files.readAllLines(log, StandardCharsets.UTF_8).stream()
                    .filter(l -> l.contains("Exception") || l.contains("Error") || l.contains("error:")).findFirst().orElse("exit code " + p.exitValue());
            return new Probe(false, "a " + type + " tensor " + (p.exitValue() >= 128 ? "killed the probe JVM (signal " + (p.exitValue() - 128) + ")" : "failed: " + why.strip()));
        } catch (IOException e) {
            return new Probe(false, "cannot start the probe JVM: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Probe(false, "interrupted");
        } finally {
            if (log != null) log.toFile().delete();
        }
    }

    /** The probe itself: half-precision weight, differentiable cast in and out, backward to an fp32 input. */
    public static void main(String[] args) {
        DataType type = DataType.valueOf(args[0]);
        Device device = Device.of(args[1], Integer.parseInt(args[2]));
        Engine engine = Engine.getEngine("PyTorch");
        try (NDManager m = NDManager.newBaseManager(device, "PyTorch")) {
            NDArray x = m.ones(new Shape(2, 8));
            x.setRequiresGradient(true);
            NDArray w = m.ones(new Shape(4, 8)).toType(type, false);
            try (GradientCollector gc = engine.newGradientCollector()) {
                NDArray y = FrozenLinear.matmul(x, w, null); // the frozen projections' own half-precision path
                gc.backward(y.sum());
            }
            float g = x.getGradient().sum().toType(DataType.FLOAT32, false).getFloat();
            System.exit(g == 64f ? 0 : 3); // each input element feeds 4 outputs of weight 1: 2 x 8 x 4
        }
    }
}
