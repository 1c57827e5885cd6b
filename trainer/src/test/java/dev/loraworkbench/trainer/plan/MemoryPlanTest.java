package dev.loraworkbench.trainer.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The shipped flagship recipe and the model's real config.json. */
class MemoryPlanTest {
    static final Path RECIPE = Path.of("../recipes/deepseek-r1-distill-qwen-32b-qlora.yaml");

    @Test
    void flagshipQloraFitsOnASparkWithRecomputation() {
        LoadedRecipe loaded = RecipeLoader.load(RECIPE, List.of());
        ModelConfig c = ModelConfig.load(loaded.resolve(loaded.recipe().model().config()));
        assertEquals(64, c.numLayers());
        MemoryPlan plan = MemoryPlan.of(c, loaded.recipe());
        MemoryPlan.Item lora = plan.items().stream().filter(i -> i.name().startsWith("LoRA")).findFirst().orElseThrow();
        assertEquals(134_217_728L * 16, lora.bytes(), "r=16 on all 7 projections of 64 layers: 134,217,728 params x (w, g, m, v)");
        MemoryPlan.Item base = plan.items().get(0);
        long projections = 64L * (5120L * 5120 * 2 + 2L * 5120 * 1024 + 3L * 5120 * 27648);
        assertTrue(base.detail().startsWith(String.format("%,d params", projections)), base.detail());
        assertTrue(base.bytes() > projections / 2 && base.bytes() < projections / 2 * 1.05, "4 bits + double-quantized scales: " + base.bytes());
        // a Spark has ~100 GB usable for a model: the recipe must fit with a quarter of it to spare
        assertTrue(plan.withRecomputation() < 75_000_000_000L, "with recomputation: " + MemoryPlan.gb(plan.withRecomputation()));
        assertTrue(plan.items().stream().anyMatch(i -> i.name().equals("allocator slack") && i.bytes() > 0), "allocator slack is planned");
        assertTrue(plan.withoutRecomputation() > 100_000_000_000L, "without: " + MemoryPlan.gb(plan.withoutRecomputation()));
    }

    /** Full-parameter training of the quickstart's tiny model: every weight fp32 plus its gradient and AdamW moments. */
    @Test
    void fullTrainingCountsSixteenBytesPerWeight() {
        LoadedRecipe loaded = RecipeLoader.load(Path.of("../recipes/tiny-base.yaml"), List.of());
        ModelConfig c = ModelConfig.load(Path.of("src/main/resources/presets/tiny-qwen2/config.json"));
        MemoryPlan plan = MemoryPlan.of(c, loaded.recipe());
        long params = 2_313_152L; // what training reports for tiny-qwen2
        long weights = plan.items().stream().filter(i -> i.name().equals("base projections") || i.name().startsWith("embeddings")).mapToLong(MemoryPlan.Item::bytes).sum();
        assertEquals(params * 4, weights, "fp32 weights");
        MemoryPlan.Item state = plan.items().stream().filter(i -> i.name().startsWith("gradients + AdamW")).findFirst().orElseThrow();
        assertEquals(params * 12, state.bytes());
        assertTrue(plan.items().stream().noneMatch(i -> i.name().startsWith("LoRA")));
    }
}
