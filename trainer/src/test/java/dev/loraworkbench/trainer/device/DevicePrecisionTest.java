package dev.loraworkbench.trainer.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;
import dev.loraworkbench.trainer.recipe.Recipe;
import org.junit.jupiter.api.Test;

/** Device resolution and the half-precision capability probe, on whatever this machine is (CI: CPU, stock natives). */
class DevicePrecisionTest {
    private static final boolean GPU = Engine.getEngine("PyTorch").getGpuCount() > 0;
    private static final boolean STOCK_NATIVES = System.getenv("PYTORCH_LIBRARY_PATH") == null;

    @Test
    void devicesResolveOrExplainWhyNot() {
        assertEquals(Device.cpu(), ComputeDevice.resolve("cpu"));
        assertEquals(GPU ? Device.gpu(0) : Device.cpu(), ComputeDevice.resolve("auto"));
        var tooHigh = assertThrows(DeviceException.class, () -> ComputeDevice.resolve("cuda:64"));
        assertTrue(tooHigh.getMessage().contains("cuda:64"), tooHigh.getMessage());
        if (!GPU) {
            var e = assertThrows(DeviceException.class, () -> ComputeDevice.resolve("cuda"));
            assertTrue(e.getMessage().contains("sees no CUDA device") && e.getMessage().contains("setup-spark.sh")
                    && e.getMessage().contains("device: cpu"), e.getMessage());
        }
        assertEquals("cpu", ComputeDevice.name(Device.cpu()));
        assertEquals("cuda:1", ComputeDevice.name(Device.gpu(1)));
    }

    /** On DJL's bundled libtorch (2.7.1); an engine from setup-spark.sh may lack CPU half GEMMs (Debian's 1.13 has none). */
    @Test
    void fp16WorksOnCpuWithGradients() {
        assumeTrue(STOCK_NATIVES, "PYTORCH_LIBRARY_PATH is set: another libtorch, whose CPU fp16 support the probe reports");
        HalfPrecision.Probe p = HalfPrecision.probe(DataType.FLOAT16, Device.cpu());
        assertTrue(p.usable(), p.detail());
        HalfPrecision.require(Recipe.ComputeDtype.FP16, Device.cpu());
        HalfPrecision.require(Recipe.ComputeDtype.FP32, Device.cpu());
    }

    /** The stock DJL 0.36 JNI aborts the JVM on a BFLOAT16 tensor: the probe's child JVM dies, this one refuses with a way out. */
    @Test
    void bf16IsRefusedOnTheStockNativesInsteadOfCrashing() {
        assumeTrue(STOCK_NATIVES, "PYTORCH_LIBRARY_PATH is set: a custom (possibly patched) JNI is in use");
        HalfPrecision.Probe p = HalfPrecision.probe(DataType.BFLOAT16, Device.cpu());
        assertFalse(p.usable());
        assertTrue(p.detail().contains("killed the probe JVM"), p.detail());
        var e = assertThrows(DeviceException.class, () -> HalfPrecision.require(Recipe.ComputeDtype.BF16, Device.cpu()));
        assertTrue(e.getMessage().startsWith("quantization.compute_dtype: bf16 is not usable on cpu") && e.getMessage().contains("setup-spark.sh"),
                e.getMessage());
    }
}
