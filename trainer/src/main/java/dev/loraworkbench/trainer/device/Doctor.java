package dev.loraworkbench.trainer.device;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.LibUtils;
import ai.djl.util.cuda.CudaUtils;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.io.PrintStream;
import java.lang.management.MemoryUsage;
import java.nio.file.Path;
import java.util.Locale;

/** What this machine can run: Java, DJL and libtorch, CUDA devices, fp16 / bf16; and whether a recipe's device choice works here. */
public final class Doctor {
    private Doctor() {}

    public static void describeMachine(PrintStream out) {
        Engine engine = Engine.getEngine("PyTorch");
        out.printf("java      %s (%s) at %s%n", System.getProperty("java.version"), System.getProperty("java.vendor"), System.getProperty("java.home"));
        out.printf("djl       %s, offline %s%n", Engine.getDjlVersion(), System.getProperty("ai.djl.offline", "false"));
        out.printf("libtorch  %s, flavor %s, %s%n", engine.getVersion(), ComputeDevice.flavor(), LibUtils.getLibtorchPath());
        for (String key : new String[] {"PYTORCH_LIBRARY_PATH", "PYTORCH_VERSION", "PYTORCH_FLAVOR"}) {
            String v = System.getenv(key);
            out.printf("  %-21s %s%n", key, v == null ? "(not set: the bundled CPU natives from the pytorch-native-cpu jar)" : v);
        }
        out.println("jni       " + EngineJni.library().map(p -> p + (EngineJni.isBf16Patched(p) ? " (bf16 patch from setup-spark.sh)" : " (stock: no bf16)"))
                .orElse("not found where DJL looks (the engine loaded, so DJL found it elsewhere)"));
        out.printf("cpu       %d cores, max heap %.1f GB%n", Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() / 1e9);
        out.println("malloc    " + MallocSettings.describe());
        int gpus = engine.getGpuCount();
        if (gpus == 0) out.println("cuda      no device visible to the engine" + (CudaUtils.hasCuda() ? " (a CUDA driver is present: the engine's natives are CPU-only; see trainer/scripts/setup-spark.sh)" : ""));
        for (int i = 0; i < gpus; i++) {
            MemoryUsage mem = CudaUtils.getGpuMemory(Device.gpu(i));
            out.printf("cuda:%d    compute capability %s, %.1f GB total, %.1f GB free%n", i, CudaUtils.getComputeCapability(i),
                    mem.getMax() / 1e9, (mem.getMax() - mem.getCommitted()) / 1e9);
        }
        Device best = gpus > 0 ? Device.gpu(0) : Device.cpu();
        for (DataType t : new DataType[] {DataType.FLOAT16, DataType.BFLOAT16}) {
            HalfPrecision.Probe p = HalfPrecision.probe(t, best);
            out.printf("%-9s %s on %s: %s%n", t == DataType.FLOAT16 ? "fp16" : "bf16", p.usable() ? "usable" : "NOT usable", ComputeDevice.name(best), p.detail());
        }
    }

    /** Whether the recipe's device and compute_dtype are usable on this machine; says so in one line. */
    public static boolean checkRecipe(Path recipe, LoadedRecipe loaded, PrintStream out) {
        Recipe r = loaded.recipe();
        String dtype = r.quantization().computeDtype().name().toLowerCase(Locale.ROOT);
        try {
            Device device = ComputeDevice.resolve(r.device());
            HalfPrecision.require(r.quantization().computeDtype(), device);
            out.printf("recipe    %s: device %s -> %s, compute_dtype %s: usable%n", recipe, r.device(), ComputeDevice.name(device), dtype);
            return true;
        } catch (DeviceException e) {
            out.printf("recipe    %s: NOT usable: %s%n", recipe, e.getMessage());
            return false;
        }
    }
}
