package dev.loraworkbench.trainer.io;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** llama.cpp as the build installs it for the tests (npm node-llama-cpp, see scripts/fetch-llama-cpp.sh). */
public final class LlamaCpp {
    private LlamaCpp() {}

    /** Where node-llama-cpp is installed; skips the calling test when the build did not fetch it. */
    public static Path home() throws IOException {
        Path home = Path.of("target/llama-cpp/home");
        assumeTrue(Files.isRegularFile(home), "llama.cpp not fetched: the build installs it with trainer/scripts/fetch-llama-cpp.sh unless -Dllamacpp.skip=true");
        return Path.of(Files.readString(home).strip());
    }

    /** ggml's base library (the reference quantizers live there) of the prebuilt Linux x64 binaries. */
    public static Path ggmlBase() throws IOException {
        Path lib = home().resolve("node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so");
        assumeTrue(Files.isRegularFile(lib), "no " + lib + " in the fetched llama.cpp");
        return lib;
    }
}
