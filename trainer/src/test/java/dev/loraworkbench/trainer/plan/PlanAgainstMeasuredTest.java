package dev.loraworkbench.trainer.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.model.TinyModels;
import dev.loraworkbench.trainer.testing.ChildTraining;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CPU plan against what a training process really holds: `workbench bench` in a child JVM (so nothing else of the
 * test JVM is counted) trains the ~135M preset for 2 steps per mode (LoRA; full training with 8-bit moments) and compares its peak anonymous RSS, sampled every
 * 2 ms, with the plan for this machine. Each mode must be within 25 %, as the plan promises. The 32B-layer shapes are
 * checked by hand (the README's bench command): they need 5-7 GB and minutes per step.
 */
class PlanAgainstMeasuredTest {
    private static final Pattern RATIO = Pattern.compile("plan     peak anonymous RSS ([0-9.]+) GB measured, ([0-9.]+) GB planned \\(cpu\\): plan/measured = ([0-9.]+)");

    @TempDir
    static Path dir;
    static Path small;
    static Path wideVocab;

    @BeforeAll
    static void models() throws Exception {
        small = dir.resolve("small-qwen2");
        TinyModels.create(TinyModels.SMALL_QWEN2, small, 7);
        wideVocab = dir.resolve("small-qwen2-v152k");
        TinyModels.create(TinyModels.SMALL_QWEN2, wideVocab, 7, 0, 152_064); // the flagship's vocabulary: the loss goes in chunks
    }

    @Test
    void fp32WholeGraph() throws Exception {
        check("fp32", small, "quantization: {type: none}", 512, false);
    }

    @Test
    void nf4RecomputedInPiecesAt2048Tokens() throws Exception {
        // 16 heads x 2048 x 2048 scores exceed the decoder's block size: attention runs as 4 blocks of 512 queries
        check("nf4", small, "quantization: {type: nf4, double_quant: true, block_size: 64, compute_dtype: fp32}", 2048, true);
    }

    @Test
    void chunkedLossOverA152kVocabulary() throws Exception {
        check("vocab", wideVocab, "quantization: {type: none}", 512, false);
    }

    /** Full-parameter training with 8-bit AdamW moments: where the moments are most of the memory (139M values, an embedding of 50M in ranges). */
    @Test
    void eightBitMomentsInFullTraining() throws Exception {
        check("adamw_8bit full", small, "quantization: {type: none}", 256, false, ", method: full, optimizer: adamw_8bit");
    }

    private static void check(String name, Path model, String quantization, int seq, boolean recompute) throws Exception {
        check(name, model, quantization, seq, recompute, "");
    }

    private static void check(String name, Path model, String quantization, int seq, boolean recompute, String training) throws Exception {
        Path recipe = dir.resolve(name.replace(' ', '-') + ".yaml");
        Files.writeString(recipe, String.join("\n",
                "model: {path: " + model.toAbsolutePath() + "}",
                "device: cpu",
                quantization,
                "lora: {r: 16, alpha: 32, dropout: 0.05, target_modules: all-linear}",
                "dataset:",
                "  max_seq_len: " + seq,
                "  eval_fraction: 0.0",
                "  sources: [{path: '" + Path.of("src/main/java").toAbsolutePath() + "/**/*.java', format: text, add_path_header: true}]",
                "training: {max_steps: 10, micro_batch_size: 1, packing: true, gradient_checkpointing: " + recompute + ", lr: 1.0e-4" + training + "}",
                "eval: {metrics: [loss]}",
                "output: {runs_dir: " + dir.resolve("runs").toAbsolutePath() + "}", ""));
        Path log = dir.resolve(name.replace(' ', '-') + ".log");
        Process p = ChildTraining.start(List.of("bench", recipe.toString(), "--steps", "1", "--warmup", "1", "--gemm", "64"), log);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "bench finished in 10 minutes");
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), out);
        Matcher m = RATIO.matcher(out);
        assertTrue(m.find(), "bench printed the plan against the measured peak: " + out);
        double ratio = Double.parseDouble(m.group(3));
        System.out.printf("plan vs measured, %s, 1 x %d tokens: %s GB planned, %s GB measured, %.2f%n", name, seq, m.group(2), m.group(1), ratio);
        assertTrue(ratio >= 0.75 && ratio <= 1.25, name + ": the plan is within 25 % of the measured peak: " + m.group());
    }
}
