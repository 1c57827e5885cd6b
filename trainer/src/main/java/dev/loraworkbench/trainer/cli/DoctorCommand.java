package dev.loraworkbench.trainer.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.LibUtils;
import ai.djl.util.cuda.CudaUtils;
import dev.loraworkbench.trainer.device.ComputeDevice;
import dev.loraworkbench.trainer.device.DeviceException;
import dev.loraworkbench.trainer.device.EngineJni;
import dev.loraworkbench.trainer.device.HalfPrecision;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.lang.management.MemoryUsage;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = "What this machine can run: Java, DJL and libtorch (version, path, flavor), CUDA devices and their memory, "
                + "whether fp16 / bf16 compute works, and whether RECIPE's device and compute_dtype are usable (exit 2 if not).")
final class DoctorCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", paramLabel = "RECIPE") Path recipe;

    @Override
    public Integer call() {
        Engine engine = Engine.getEngine("PyTorch");
        System.out.printf("java      %s (%s) at %s%n", System.getProperty("java.version"), System.getProperty("java.vendor"), System.getProperty("java.home"));
        System.out.printf("djl       %s, offline %s%n", Engine.getDjlVersion(), System.getProperty("ai.djl.offline", "false"));
        System.out.printf("libtorch  %s, flavor %s, %s%n", engine.getVersion(), ComputeDevice.flavor(), LibUtils.getLibtorchPath());
        for (String key : new String[] {"PYTORCH_LIBRARY_PATH", "PYTORCH_VERSION", "PYTORCH_FLAVOR"}) {
            String v = System.getenv(key);
            System.out.printf("  %-21s %s%n", key, v == null ? "(not set: the bundled CPU natives from the pytorch-native-cpu jar)" : v);
        }
        System.out.println("jni       " + EngineJni.library().map(p -> p + (EngineJni.isBf16Patched(p) ? " (bf16 patch from setup-spark.sh)" : " (stock: no bf16)"))
                .orElse("not found where DJL looks (the engine loaded, so DJL found it elsewhere)"));
        System.out.printf("cpu       %d cores, max heap %.1f GB%n", Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() / 1e9);
        int gpus = engine.getGpuCount();
        if (gpus == 0) System.out.println("cuda      no device visible to the engine" + (CudaUtils.hasCuda() ? " (a CUDA driver is present: the engine's natives are CPU-only; see trainer/scripts/setup-spark.sh)" : ""));
        for (int i = 0; i < gpus; i++) {
            MemoryUsage mem = CudaUtils.getGpuMemory(Device.gpu(i));
            System.out.printf("cuda:%d    compute capability %s, %.1f GB total, %.1f GB free%n", i, CudaUtils.getComputeCapability(i),
                    mem.getMax() / 1e9, (mem.getMax() - mem.getCommitted()) / 1e9);
        }
        Device best = gpus > 0 ? Device.gpu(0) : Device.cpu();
        for (DataType t : new DataType[] {DataType.FLOAT16, DataType.BFLOAT16}) {
            HalfPrecision.Probe p = HalfPrecision.probe(t, best);
            System.out.printf("%-9s %s on %s: %s%n", t == DataType.FLOAT16 ? "fp16" : "bf16", p.usable() ? "usable" : "NOT usable", ComputeDevice.name(best), p.detail());
        }
        if (recipe == null) return 0;
        LoadedRecipe loaded = RecipeLoader.load(recipe, List.of());
        Recipe r = loaded.recipe();
        String dtype = r.quantization().computeDtype().name().toLowerCase(Locale.ROOT);
        try {
            Device device = ComputeDevice.resolve(r.device());
            HalfPrecision.require(r.quantization().computeDtype(), device);
            System.out.printf("recipe    %s: device %s -> %s, compute_dtype %s: usable%n", recipe, r.device(), ComputeDevice.name(device), dtype);
            return 0;
        } catch (DeviceException e) {
            System.out.printf("recipe    %s: NOT usable: %s%n", recipe, e.getMessage());
            return WorkbenchCli.USER_ERROR;
        }
    }
}
