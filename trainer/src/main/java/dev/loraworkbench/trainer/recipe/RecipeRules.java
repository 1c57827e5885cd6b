package dev.loraworkbench.trainer.recipe;

import java.util.List;
import java.util.Set;

/** Range and consistency rules that the types alone cannot express. */
final class RecipeRules {
    static final Set<String> LINEAR_MODULES = Set.copyOf(dev.loraworkbench.trainer.model.Projection.NAMES);
    static final Set<String> PRESETS = dev.loraworkbench.trainer.model.TinyModels.PRESET_NAMES;

    private RecipeRules() {}

    static void check(Recipe r, RecipeLoader.Locator at, List<String> problems) {
        Rule rule = new Rule(at, problems);
        rule.require(r.model().path() != null, "model.path", "is required: a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json)");
        if (r.model().initPreset() != null) {
            rule.require(PRESETS.contains(r.model().initPreset()), "model.init_preset", "'" + r.model().initPreset() + "' is not a known preset; expected one of " + PRESETS);
        }
        rule.require(r.device().matches("auto|cpu|cuda|cuda:\\d+|gpu|gpu:\\d+"), "device",
                "'" + r.device() + "' is not valid; expected auto, cpu, cuda or cuda:N (e.g. cuda:0)");
        int block = r.quantization().blockSize();
        rule.require(block >= 64 && block <= 4096 && Integer.bitCount(block) == 1,
                "quantization.block_size", block + " is not valid; expected a power of two from 64 to 4096 (bitsandbytes' range), e.g. 64");

        var lora = r.lora();
        rule.range(lora.r() >= 1 && lora.r() <= 1024, "lora.r", lora.r(), "a whole number from 1 to 1024");
        rule.range(lora.alpha() > 0, "lora.alpha", lora.alpha(), "a number > 0");
        rule.range(lora.dropout() >= 0 && lora.dropout() < 1, "lora.dropout", lora.dropout(), "a number in [0, 1)");
        List<String> targets = lora.targetModules();
        if (targets.isEmpty()) problems.add(at.at("lora.target_modules", "is empty; name modules such as q_proj, v_proj or use all-linear"));
        for (String t : targets) {
            if (t.equals("all-linear") && targets.size() == 1) continue;
            if (!LINEAR_MODULES.contains(t)) {
                String near = RecipeSchema.nearest(t, LINEAR_MODULES);
                problems.add(at.at("lora.target_modules", "'" + t + "' is not a linear module of the decoder; expected all-linear or some of "
                        + String.join(", ", LINEAR_MODULES.stream().sorted().toList()) + (near == null ? "" : " (did you mean '" + near + "'?)")));
            }
        }

        var d = r.dataset();
        boolean several = d.sources() != null && !d.sources().isEmpty();
        rule.require(d.path() != null || several, "dataset.path", "is required: a JSONL or CSV file of Q&A pairs (or dataset.sources: a list of sources)");
        rule.require(!(d.path() != null && several), "dataset.sources", "give either dataset.path or dataset.sources, not both "
                + "(with sources, each names its own path and format)");
        if (d.sources() != null && d.sources().isEmpty()) problems.add(at.at("dataset.sources", "is empty; list sources as '- path: ...' entries"));
        for (int i = 0; i < d.sourceList().size(); i++) {
            var s = d.sourceList().get(i);
            String p = several ? "dataset.sources." + i : "dataset";
            if (several) rule.require(s.path() != null, p + ".path", "is required: a file, a directory or a glob");
            if (s.weight() != null) rule.range(s.weight() > 0 && s.weight() <= 1000, p + ".weight", s.weight(), "a number in (0, 1000]: 1 takes the source once per epoch");
            if (s.stride() != null) rule.range(s.stride() >= 0 && s.stride() < d.maxSeqLen(), p + ".stride", s.stride(),
                    "a whole number from 0 to max_seq_len - 1: tokens of the previous window repeated as context");
            if (s.maxFileSize() != null) rule.require(dev.loraworkbench.trainer.io.ByteSizes.parse(s.maxFileSize()).isPresent(), p + ".max_file_size",
                    "'" + s.maxFileSize() + "' is not a size; expected e.g. 1MB, 500kB or 2000000");
            boolean textOnly = s.exclude() != null || s.addPathHeader() != null || s.stride() != null || s.maxFileSize() != null;
            if (textOnly && !s.text()) {
                problems.add(at.at(p + ".format", "exclude, add_path_header, stride and max_file_size apply to format: text (files read as "
                        + "documents), not to " + s.formatOrAuto().name().toLowerCase(java.util.Locale.ROOT)));
            }
        }
        rule.range(d.maxSeqLen() >= 8 && d.maxSeqLen() <= 1 << 20, "dataset.max_seq_len", d.maxSeqLen(), "a whole number from 8 to 1048576");
        if (d.evalFraction() != null) {
            rule.range(d.evalFraction() >= 0 && d.evalFraction() < 1, "dataset.eval_fraction", d.evalFraction(), "a number in [0, 1)");
            rule.require(d.evalPath() == null, "dataset.eval_fraction", "give either eval_fraction or eval_path, not both");
        }

        var t = r.training();
        if (t.method() == Recipe.Method.FULL) {
            rule.require(r.quantization().type() == Recipe.QuantType.NONE, "training.method",
                    "full trains every weight in fp32; a " + r.quantization().type().name().toLowerCase(java.util.Locale.ROOT)
                            + " base is frozen 4-bit storage and cannot be updated: set quantization.type: none, or train a LoRA (method: lora) on the quantized base");
            rule.require(r.quantization().computeDtype() == Recipe.ComputeDtype.FP32, "training.method",
                    "full keeps fp32 weights and computes in fp32; set quantization.compute_dtype: fp32");
        }
        if (t.checkpointDtype() != Recipe.ComputeDtype.FP32) {
            String half = t.checkpointDtype().name().toLowerCase(java.util.Locale.ROOT);
            rule.require(t.checkpointDtype() == r.quantization().computeDtype(), "training.checkpoint_dtype",
                    half + " layer inputs need " + half + " compute (the type this device was checked for); set quantization.compute_dtype: " + half
                            + ", or checkpoint_dtype: fp32");
            rule.require(t.recomputeLayers(r.quantization().type()), "training.checkpoint_dtype",
                    "only layer-wise recomputation keeps layer inputs; set training.gradient_checkpointing: true, or checkpoint_dtype: fp32");
        }
        // as in transformers' TrainingArguments: max_steps wins over epochs, warmup_steps over warmup_ratio
        if (t.epochs() != null) rule.range(t.epochs() >= 1, "training.epochs", t.epochs(), "a whole number >= 1");
        if (t.maxSteps() != null) rule.range(t.maxSteps() >= 1, "training.max_steps", t.maxSteps(), "a whole number >= 1");
        rule.range(t.microBatchSize() >= 1, "training.micro_batch_size", t.microBatchSize(), "a whole number >= 1");
        rule.range(t.gradAccum() >= 1, "training.grad_accum", t.gradAccum(), "a whole number >= 1");
        rule.range(t.lr() > 0 && t.lr() < 1, "training.lr", t.lr(), "a number in (0, 1), e.g. 2e-4");
        if (t.warmupSteps() != null) rule.range(t.warmupSteps() >= 0, "training.warmup_steps", t.warmupSteps(), "a whole number >= 0");
        if (t.warmupRatio() != null) rule.range(t.warmupRatio() >= 0 && t.warmupRatio() < 1, "training.warmup_ratio", t.warmupRatio(), "a number in [0, 1)");
        rule.range(t.weightDecay() >= 0, "training.weight_decay", t.weightDecay(), "a number >= 0");
        rule.range(t.maxGradNorm() >= 0, "training.max_grad_norm", t.maxGradNorm(), "a number >= 0 (0 turns clipping off)");
        rule.range(t.logEvery() >= 1, "training.log_every", t.logEvery(), "a whole number >= 1");
        rule.range(t.evalEvery() >= 0, "training.eval_every", t.evalEvery(), "a whole number >= 0 (0: only at the end)");
        rule.range(t.saveEvery() >= 0, "training.save_every", t.saveEvery(), "a whole number >= 0 (0: only at the end)");
        rule.range(t.keepCheckpoints() >= 1, "training.keep_checkpoints", t.keepCheckpoints(), "a whole number >= 1");

        var e = r.eval();
        if (e.every() != null) rule.range(e.every() >= 0, "eval.every", e.every(), "a whole number >= 0 (0: only at step 0 and the end)");
        if (e.samples() != null) rule.range(e.samples() >= 1, "eval.samples", e.samples(), "a whole number >= 1 (or null for every eval question)");
        rule.range(e.maxNewTokens() >= 1 && e.maxNewTokens() <= 1 << 16, "eval.max_new_tokens", e.maxNewTokens(), "a whole number from 1 to 65536");
        List<String> metricKeys = java.util.Arrays.stream(Recipe.Metric.values()).map(Recipe.Metric::key).toList();
        if (e.metrics().isEmpty()) problems.add(at.at("eval.metrics", "is empty; name some of " + String.join(", ", metricKeys)));
        for (String m : e.metrics()) {
            if (Recipe.Metric.byKey(m).isPresent()) continue;
            String near = RecipeSchema.nearest(m, java.util.Set.copyOf(metricKeys));
            problems.add(at.at("eval.metrics", "'" + m + "' is not a metric; expected some of " + String.join(", ", metricKeys)
                    + (near == null ? "" : " (did you mean '" + near + "'?)")));
        }

        var best = Recipe.Metric.byTag(t.metricForBest());
        List<String> tags = e.metrics().stream().map(m -> "eval/" + m).toList();
        if (best.isEmpty() || !e.metrics().contains(best.get().key())) {
            String near = RecipeSchema.nearest(t.metricForBest(), java.util.Set.copyOf(tags));
            problems.add(at.at("training.metric_for_best", "'" + t.metricForBest() + "' is not one of this recipe's eval metrics; expected one of "
                    + String.join(", ", tags) + (near == null ? "" : " (did you mean '" + near + "'?)")));
        }
        rule.range(t.earlyStoppingPatience() >= 0, "training.early_stopping_patience", t.earlyStoppingPatience(),
                "a whole number >= 0 (evaluations without improvement; 0: never stop early)");

        String name = r.output().name();
        if (name != null) {
            rule.require(name.matches("[A-Za-z0-9._-]+") && !name.startsWith("."), "output.name",
                    "'" + name + "' is not a valid run name; use letters, digits, '.', '_' and '-'");
        }
    }

    private record Rule(RecipeLoader.Locator at, List<String> problems) {
        void require(boolean ok, String path, String message) {
            if (!ok) problems.add(at.at(path, message));
        }

        void range(boolean ok, String path, Object value, String expected) {
            if (!ok) problems.add(at.at(path, value + " is out of range; expected " + expected));
        }
    }
}
