package dev.loraworkbench.trainer.recipe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class RecipeLoaderTest {
    static final Path FILE = Path.of("/recipes/r.yaml");
    static final String VALID = """
            model:
              path: ../models/m
            dataset:
              path: data/qa.jsonl
            training:
              max_steps: 10
              lr: 1.0e-4
            """;

    private static List<String> problems(String yaml, String... overrides) {
        return assertThrows(RecipeException.class, () -> RecipeLoader.parse(yaml, FILE, List.of(overrides))).problems();
    }

    @Test
    void defaultsAndRelativePaths() {
        LoadedRecipe r = RecipeLoader.parse(VALID, FILE, List.of());
        assertEquals(Path.of("/models/m"), r.modelDir());
        assertEquals(Path.of("/recipes/data/qa.jsonl"), r.datasetPath());
        assertEquals(8, r.recipe().lora().r());
        assertEquals(List.of("all-linear"), r.recipe().lora().targetModules());
        assertEquals(Recipe.QuantType.NONE, r.recipe().quantization().type());
        assertEquals(Recipe.Schedule.COSINE, r.recipe().training().schedule());
        assertEquals(10, r.recipe().training().maxSteps());
        assertNull(r.recipe().training().epochs());
        assertTrue(r.resolvedYaml().contains("micro_batch_size: 4"), r.resolvedYaml());
    }

    @Test
    void unknownFieldNamesPathLineAndNearestName() {
        List<String> p = problems(VALID + "  learning_rat: 0.1\n");
        assertEquals(1, p.size());
        assertTrue(p.get(0).startsWith("/recipes/r.yaml:8: training.learning_rat: unknown field; did you mean 'lr'? "
                + "(valid fields: method, epochs, max_steps, micro_batch_size, grad_accum, lr, schedule,"), p.get(0));
        assertTrue(problems(VALID + "lora:\n  rank: 4\n").get(0).startsWith("/recipes/r.yaml:9: lora.rank: unknown field; did you mean 'r'?"));
        assertTrue(problems(VALID + "  gradient_accumulation_steps: 4\n").get(0).contains("did you mean 'grad_accum'?"));
        assertTrue(problems(VALID + "trainig:\n  lr: 1\n").get(0).contains("trainig: unknown field; did you mean 'training'?"));
    }

    /** The optimizer: adamw by default; adamw_8bit (TRL's "optim" bridged by its name); values checked. */
    @Test
    void optimizerChoices() {
        assertEquals(Recipe.Optimizer.ADAMW, RecipeLoader.parse(VALID, FILE, List.of()).recipe().training().optimizer());
        assertEquals(Recipe.Optimizer.ADAMW_8BIT, RecipeLoader.parse(VALID + "  optimizer: adamw_8bit\n", FILE, List.of()).recipe().training().optimizer());
        assertTrue(problems(VALID + "  optim: adamw_8bit\n").get(0).contains("did you mean 'optimizer'?"));
        assertTrue(problems(VALID + "  optimizer: adamw_bnb_8bit\n").get(0).contains("adamw_8bit"));
    }

    /** YAML keeps the last of two equal keys without a word: a second lora: section silently reset alpha and dropout. */
    @Test
    void keysGivenTwiceAreAnErrorNamingBothLines() {
        List<String> p = problems(VALID + "lora:\n  alpha: 32\n  alpha: 8\n");
        assertEquals(List.of("/recipes/r.yaml:10: lora.alpha: given twice (first at line 9); YAML would silently keep only the last: keep one"), p);
        List<String> sections = problems(VALID + "lora:\n  r: 16\n  alpha: 32\nlora:\n  r: 4\n");
        assertEquals(List.of("/recipes/r.yaml:11: lora: given twice (first at line 8); YAML would silently keep only the last: keep one"), sections);
    }

    @Test
    void numbersYamlOrJavaCannotTakeAreNamed() {
        List<String> nan = problems(VALID + "lora:\n  dropout: .nan\n");
        assertEquals(1, nan.size());
        assertTrue(nan.get(0).startsWith("/recipes/r.yaml:9: not valid YAML: Malformed numeric value '.nan'") && nan.get(0).contains("(not a number a recipe takes)")
                && nan.get(0).endsWith("in 'dropout: .nan'"), nan.get(0));
        assertEquals(List.of("/recipes/r.yaml:6: training.max_steps: 99999999999 is out of range; expected a whole number up to 2147483647"),
                problems(VALID.replace("max_steps: 10", "max_steps: 99999999999")));
    }

    @Test
    void evalMetricsAndTheMetricForBestAreChecked() {
        List<String> p = problems(VALID + "eval:\n  metrics: [token_f1, rouge]\n");
        assertEquals(2, p.size(), p.toString());
        assertTrue(p.get(0).startsWith("/recipes/r.yaml:9: eval.metrics: 'rouge' is not a metric; expected some of exact_match, token_f1, "
                + "rouge_l, loss, perplexity (did you mean 'rouge_l'?)"), p.get(0));
        assertTrue(p.get(1).startsWith("/recipes/r.yaml:") && p.get(1).contains("training.metric_for_best: 'eval/loss' is not one of this "
                + "recipe's eval metrics; expected one of eval/token_f1, eval/rouge"), p.get(1));
        List<String> best = problems(VALID + "  metric_for_best: eval/f1\n  early_stopping_patience: -1\n");
        assertTrue(best.get(0).contains("training.metric_for_best: 'eval/f1' is not one of this recipe's eval metrics"), best.get(0));
        assertTrue(best.get(1).contains("training.early_stopping_patience: -1 is out of range"), best.get(1));
        LoadedRecipe ok = RecipeLoader.parse(VALID + "  metric_for_best: eval/token_f1\n", FILE, List.of());
        assertEquals(Recipe.FinalAdapter.BEST, ok.recipe().training().finalAdapter());
        assertEquals(64, ok.recipe().eval().maxNewTokens());
    }

    @Test
    void wrongTypesAndRangesNameValueAndExpectation() {
        List<String> p = problems(VALID.replace("max_steps: 10", "max_steps: ten") + "lora:\n  dropout: 1.5\n  r: 0\n");
        assertEquals(List.of("/recipes/r.yaml:6: training.max_steps: 'ten' is not valid; expected a whole number"), p);
        List<String> ranges = problems(VALID + "lora:\n  dropout: 1.5\n  r: 0\n");
        assertEquals(List.of(
                "/recipes/r.yaml:10: lora.r: 0 is out of range; expected a whole number from 1 to 1024",
                "/recipes/r.yaml:9: lora.dropout: 1.5 is out of range; expected a number in [0, 1)"), ranges);
        assertTrue(problems(VALID + "lora:\n  target_modules: [q_proj, v_prj]\n").get(0).contains("'v_prj' is not a linear module") );
        assertTrue(problems(VALID.replace("lr: 1.0e-4", "lr: -1")).get(0).contains("training.lr: -1.0 is out of range"));
        assertTrue(problems(VALID + "  schedule: cosin\n").get(0).contains("expected one of cosine | linear | constant (did you mean 'cosine'?)"));
        assertTrue(problems("model: {}\ndataset: {}\n").get(0).contains("model.path: is required"));
    }

    @Test
    void quantizationShorthandAndBlockSize() {
        assertEquals(Recipe.QuantType.NF4, RecipeLoader.parse(VALID + "quantization: nf4\n", FILE, List.of()).recipe().quantization().type());
        List<String> p = problems(VALID + "quantization: {type: nf4, block_size: 48}\n");
        assertTrue(p.get(0).contains("quantization.block_size: 48 is not valid; expected a power of two from 64 to 4096"), p.get(0));
        assertTrue(problems(VALID + "quantization: {type: nf4, block_size: 8192}\n").get(0).contains("block_size: 8192 is not valid"));
        assertTrue(problems(VALID + "quantization: int8\n").get(0).contains("expected one of none | nf4 | fp4"));
    }

    @Test
    void overridesAreAppliedAndValidatedLikeTheFile() {
        LoadedRecipe r = RecipeLoader.parse(VALID, FILE, List.of("training.max_steps=20", "lora.r=4", "lora.target_modules=[q_proj, v_proj]"));
        assertEquals(20, r.recipe().training().maxSteps());
        assertEquals(4, r.recipe().lora().r());
        assertEquals(List.of("q_proj", "v_proj"), r.recipe().lora().targetModules());
        assertEquals(List.of("--set lora.r: 'four' is not valid; expected a whole number"), problems(VALID, "lora.r=four"));
        assertEquals(List.of("--set traning.lr: unknown field; did you mean 'training.lr'?"), problems(VALID, "traning.lr=0.1"));
        assertTrue(problems(VALID, "lora.r").get(0).contains("expected section.field=value"));
        assertEquals("cuda:1", RecipeLoader.parse(VALID, FILE, List.of("device=cuda:1")).recipe().device());
        assertTrue(problems(VALID, "device=tpu").get(0).contains("device: 'tpu' is not valid; expected auto, cpu, cuda or cuda:N"), problems(VALID, "device=tpu").toString());
        assertTrue(problems(VALID, "devise=cpu").get(0).contains("did you mean 'device'?"), problems(VALID, "devise=cpu").toString());
        assertTrue(problems(VALID, "quantization.compute_dtype=fp8").get(0).contains("expected one of fp32 | fp16 | bf16"));
    }

    @Test
    void explicitNullKeepsTheDefault() {
        LoadedRecipe r = RecipeLoader.parse("model: {path: m}\ndataset: {path: d.jsonl}\nlora:\ntraining:\n  lr: ~\n", FILE, List.of("lora.r=null"));
        assertEquals(8, r.recipe().lora().r());
        assertEquals(2.0e-4, r.recipe().training().lr());
    }

    @Test
    void yamlSyntaxErrorsHaveALine() {
        String p = problems("model:\n  path: [unclosed\n").get(0);
        assertTrue(p.startsWith("/recipes/r.yaml:"), p);
        assertTrue(p.contains("not valid YAML"), p);
    }
}
