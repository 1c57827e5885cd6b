package dev.loraworkbench.trainer.loader;

import dev.loraworkbench.trainer.lora.LoraAdapter;
import java.nio.file.Path;

/** Which LoRA adapter goes on the base model, if any (or whether the model itself is trained). */
public sealed interface AdapterSource {
    /** The base model alone. */
    record None() implements AdapterSource {}

    /** A saved PEFT adapter (a run, one of its checkpoints, or an exported adapter), for inference. */
    record Saved(Path dir) implements AdapterSource {}

    /** An adapter to train: fresh (A kaiming-uniform from {@code seed}, B zero), or continued from a checkpoint's PEFT files. */
    record Trainable(LoraAdapter.LoraSettings settings, long seed, Path checkpoint) implements AdapterSource {}

    /** No adapter: every weight of the (dense fp32) model is trained, as training.method: full asks. */
    record FullModel() implements AdapterSource {}

    static AdapterSource saved(Path dirOrNull) {
        return dirOrNull == null ? new None() : new Saved(dirOrNull);
    }
}
