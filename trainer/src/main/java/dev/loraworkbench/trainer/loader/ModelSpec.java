package dev.loraworkbench.trainer.loader;

import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.nio.file.Path;

/**
 * Everything that decides how a model is loaded: checkpoint, quantization (null: none), compute dtype, device
 * (auto / cpu / cuda:N) and adapter; {@code longestSequence} (0: unknown) is checked against the model's context
 * before any weight loads, so a too-long input fails in seconds, not after minutes of loading.
 */
public record ModelSpec(Path dir, Quantization quantization, Recipe.ComputeDtype computeDtype, String device, AdapterSource adapter,
                        int longestSequence) {}
