package dev.loraworkbench.trainer.device;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.LibUtils;
import ai.djl.util.Platform;
import ai.djl.util.Utils;
import ai.djl.util.cuda.CudaUtils;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.stream.Stream;

/** The DJL PyTorch JNI library this process loads, and whether it carries trainer/scripts/setup-spark.sh's bf16 patch. */
public final class EngineJni {
    /** The patch replaces the JNI's bare {@code throw;} (which aborts the JVM) with an exception carrying this text. */
    private static final String PATCH_MARKER = "Unsupported DJL DataType ordinal";

    private EngineJni() {}

    /**
     * Found as DJL 0.36's LibUtils.findJniLibrary finds it: in the libtorch folder, then in
     * {engine cache}/pytorch/{PYTORCH_VERSION}-{PYTORCH_FLAVOR}-{classifier}/, with DJL's own defaults for unset values.
     */
    public static Optional<Path> library() {
        Engine.getEngine("PyTorch"); // loads the natives: the libtorch path is known from here on
        Platform platform = Platform.detectPlatform("pytorch");
        String file = System.mapLibraryName("djl_torch");
        Path libDir = Path.of(LibUtils.getLibtorchPath());
        String version = orElse(Utils.getEnvOrSystemProperty("PYTORCH_VERSION"), platform.getVersion());
        String flavor = Utils.getEnvOrSystemProperty("PYTORCH_FLAVOR");
        if (flavor == null || flavor.isEmpty()) {
            flavor = CudaUtils.getGpuCount() > 0 ? "cu" + CudaUtils.getCudaVersionString() + "-precxx11"
                    : "linux".equals(platform.getOsPrefix()) ? "cpu-precxx11" : "cpu";
        }
        Path cached = Utils.getEngineCacheDir("pytorch").resolve(version + "-" + flavor + "-" + platform.getClassifier());
        return Stream.of(libDir.resolve(platform.getApiVersion() + "-" + file), libDir.resolve(file), cached.resolve(platform.getApiVersion() + "-" + file))
                .filter(Files::isRegularFile).findFirst();
    }

    public static boolean isBf16Patched(Path jni) {
        try {
            return new String(Files.readAllBytes(jni), StandardCharsets.ISO_8859_1).contains(PATCH_MARKER);
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether the JNI in use carries the bf16 patch (false when it cannot be found). */
    public static boolean loadedIsBf16Patched() {
        return library().map(EngineJni::isBf16Patched).orElse(false);
    }

    private static String orElse(String value, String fallback) {
        return value == null || value.isEmpty() ? fallback : value;
    }
}
