package dev.loraworkbench.trainer.testing;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** The golden numerics fixtures (tiny HF checkpoints + PEFT adapters + expected logits) in the test resources. */
public final class Fixtures {
    private Fixtures() {}

    public static Path golden(String name) {
        try {
            return Path.of(Fixtures.class.getResource("/fixtures/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
