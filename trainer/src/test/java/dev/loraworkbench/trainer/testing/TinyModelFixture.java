package dev.loraworkbench.trainer.testing;

import dev.loraworkbench.trainer.model.TinyModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The tiny-qwen2-random preset (the quickstart model's shape and tokenizer, random weights), created once per test JVM. */
public final class TinyModelFixture {
    private static Path dir;

    private TinyModelFixture() {}

    public static synchronized Path dir() {
        if (dir == null) {
            try {
                Path parent = Files.createTempDirectory("tiny-qwen2-");
                dir = parent.resolve("model");
                TinyModels.create(TinyModels.TINY_QWEN2_RANDOM, dir, 1234);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return dir;
    }

    /** The shipped sample data (tests run in the trainer module directory). */
    public static Path sampleData() {
        return Path.of("../datasets/samples/project-qa.jsonl").toAbsolutePath().normalize();
    }
}
