package dev.loraworkbench.trainer.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The shipped flagship and 70B recipes with the models' real config.json, planned for a Spark. */
class MemoryPlanTest {
    static final Path RECIPE = Path.of("../recipes/deepseek-r1-distill-qwen-32b-qlora.yaml");
    static final Path RECIPE_70B = Path.of("../recipes/deepseek-r1-distill-llama-70b-qlora.yaml");

    private static MemoryPlan.Item item(MemoryPlan plan, String prefix) {
        return plan.items().stream().filter(i -> i.name().startsWith(prefix)).findFirst().orElseThrow(() -> new AssertionError("no item " + prefix));
    }

    @Test
    void flagshipQloraFitsOnASparkWithRecomputation() {
        LoadedRecipe loaded = RecipeLoader.load(RECIPE, List.of());
        ModelConfig c = ModelConfig.load(loaded.resolve(loaded.recipe().model().config()));
        assertEquals(64, c.numLayers());
        MemoryPlan plan = MemoryPlan.of(c, loaded.recipe(), MemoryPlan.Allocator.CUDA_CACHING, 2048);
        assertEquals(Recipe.Optimizer.ADAMW_8BIT, loaded.recipe().training().optimizer());
        // r=16 on all 7 projections of 64 layers: 134,217,728 params x (w, g) in fp32, m and v in 8 bits with a scale per 256
        // (every LoRA matrix has 4096+ values: the smallest, k_proj's B, is 1024 x 16)
        assertEquals(134_217_728L * 8 + 134_217_728L * 2 + 134_217_728L / 256 * 8, item(plan, "LoRA").bytes());
        MemoryPlan.Item base = plan.items().get(0);
        long projections = 64L * (5120L * 5120 * 2 + 2L * 5120 * 1024 + 3L * 5120 * 27648);
        assertTrue(base.detail().startsWith(String.format("%,d params", projections)), base.detail());
        assertTrue(base.bytes() > projections / 2 && base.bytes() < projections / 2 * 1.05, "4 bits + double-quantized scales: " + base.bytes());
        assertEquals(152_064L * 5120 * 2 * 2, item(plan, "embeddings").bytes(), "embeddings and lm_head in bf16, the compute dtype");
        // the loss holds one chunk of logits, not 2048 x 152,064 of them (3.7 GB as three fp32 buffers)
        assertTrue(item(plan, "loss").bytes() < 500_000_000L, "loss: " + MemoryPlan.gb(item(plan, "loss").bytes()));
        assertTrue(item(plan, "one layer recomputed").detail().startsWith("in pieces"), "a 2048-token layer of the 32B is rebuilt in pieces");
        assertEquals(64L * 2048 * 5120 * 2, item(plan, "layer inputs").bytes(), "checkpoint_dtype bf16");
        long total = plan.forRecipe(loaded.recipe());
        assertTrue(total <= 26_000_000_000L, "32B QLoRA at 2048 tokens: " + MemoryPlan.gb(total) + " (57.4 GB before chunked loss, half tables, pieces and 8-bit AdamW)");
        MemoryPlan fp32Moments = MemoryPlan.of(c, RecipeLoader.load(RECIPE, List.of("training.optimizer=adamw")).recipe(), MemoryPlan.Allocator.CUDA_CACHING, 2048);
        assertEquals(134_217_728L * 16, item(fp32Moments, "LoRA").bytes(), "fp32 moments: (w, g, m, v) x 4 bytes");
        assertTrue(plan.withoutRecomputation() > 100_000_000_000L, "without: " + MemoryPlan.gb(plan.withoutRecomputation()));
        int longest = MemoryPlan.maxSeqLen(c, loaded.recipe(), MemoryPlan.Allocator.CUDA_CACHING, PlanReport.SPARK_USABLE);
        assertTrue(longest >= 32_768, "max sequence on a Spark: " + longest);
        assertTrue(MemoryPlan.of(c, loaded.recipe(), MemoryPlan.Allocator.CUDA_CACHING, longest + 1).forRecipe(loaded.recipe()) > PlanReport.SPARK_USABLE,
                "one token more does not fit");
    }

    @Test
    void seventyBillionFitsOneSparkWithHeadroom() {
        LoadedRecipe loaded = RecipeLoader.load(RECIPE_70B, List.of());
        ModelConfig c = ModelConfig.load(loaded.resolve(loaded.recipe().model().config()));
        assertEquals(80, c.numLayers());
        assertEquals("llama", c.modelType());
        assertEquals(4096, loaded.recipe().dataset().maxSeqLen());
        MemoryPlan plan = MemoryPlan.of(c, loaded.recipe(), MemoryPlan.Allocator.CUDA_CACHING, 4096);
        long total = plan.forRecipe(loaded.recipe());
        assertTrue(total <= 0.85 * PlanReport.SPARK_USABLE, "70B QLoRA at 4096 tokens: " + MemoryPlan.gb(total) + " of " + MemoryPlan.gb(PlanReport.SPARK_USABLE));
    }

    /** The same recipe on a CPU: glibc keeps small freed blocks, and the CUDA items are gone. */
    @Test
    void allocatorFollowsTheDevice() {
        LoadedRecipe loaded = RecipeLoader.load(RECIPE, List.of());
        ModelConfig c = ModelConfig.load(loaded.resolve(loaded.recipe().model().config()));
        MemoryPlan cpu = MemoryPlan.of(c, loaded.recipe(), MemoryPlan.Allocator.GLIBC, 2048);
        assertTrue(cpu.items().stream().anyMatch(i -> i.name().startsWith("allocator slack")));
        assertTrue(cpu.items().stream().noneMatch(i -> i.name().startsWith("CUDA")));
        assertEquals(MemoryPlan.Allocator.CUDA_CACHING, MemoryPlan.of(c, loaded.recipe()).allocator(), "the recipe's device is cuda");
    }

    /** Full-parameter training of the quickstart's tiny model: every weight fp32 plus its gradient and AdamW moments. */
    @Test
    void fullTrainingCountsSixteenBytesPerWeight() {
        LoadedRecipe loaded = RecipeLoader.load(Path.of("../recipes/tiny-base.yaml"), List.of());
        ModelConfig c = ModelConfig.load(Path.of("src/main/resources/presets/tiny-qwen2/config.json"));
        MemoryPlan plan = MemoryPlan.of(c, loaded.recipe());
        long params = 2_313_152L; // what training reports for tiny-qwen2
        long weights = plan.items().stream().filter(i -> i.name().equals("base projections") || i.name().startsWith("embeddings") || i.name().startsWith("norms"))
                .mapToLong(MemoryPlan.Item::bytes).sum();
        assertEquals(params * 4, weights, "fp32 weights");
        assertEquals(params * 12, item(plan, "gradients + AdamW").bytes());
        // 8-bit moments: 2 bytes and a scale per 256 for each tensor of 4096+ values; the norms (192 values) keep fp32 moments
        long eightBit = item(MemoryPlan.of(c, RecipeLoader.load(Path.of("../recipes/tiny-base.yaml"), List.of("training.optimizer=adamw_8bit")).recipe()),
                "gradients + AdamW").bytes();
        assertTrue(eightBit > params * 6 && eightBit < params * 6.1, "grads + 8-bit moments: " + eightBit + " for " + params + " params");
        assertTrue(plan.items().stream().noneMatch(i -> i.name().startsWith("LoRA")));
    }
}
