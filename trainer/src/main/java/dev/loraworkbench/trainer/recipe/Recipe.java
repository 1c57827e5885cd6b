package dev.loraworkbench.trainer.recipe;

import dev.loraworkbench.datasets.CsvColumns;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.ReasoningPolicy;
import dev.loraworkbench.datasets.TruncationPolicy;
import dev.loraworkbench.trainer.quant.Codebook;
import dev.loraworkbench.trainer.quant.Quantization;
import java.util.List;

/**
 * A training recipe as written in YAML (snake_case field names). Defaults live in
 * {@code recipe-defaults.yaml}; {@link RecipeLoader} merges, validates and resolves paths.
 */
public record Recipe(
        ModelSection model,
        String device,
        QuantizationSection quantization,
        LoraSection lora,
        DatasetSection dataset,
        TrainingSection training,
        EvalSection eval,
        OutputSection output) {

    /**
     * {@code path}: a Hugging Face checkpoint directory; {@code init_preset}: create it with that preset if it does not
     * exist yet; {@code config}: a config.json for {@code plan} when the checkpoint is not on this machine;
     * {@code chat_template}: {@code chatml} or a Jinja file instead of tokenizer_config.json's template.
     */
    public record ModelSection(String path, String initPreset, String config, String chatTemplate) {}

    public enum QuantType { NONE, NF4, FP4 }

    /** Dtype of the frozen base's matmuls; LoRA master weights, gradients and AdamW state stay fp32. */
    public enum ComputeDtype { FP32, FP16, BF16 }

    public record QuantizationSection(QuantType type, Boolean doubleQuant, Integer blockSize, ComputeDtype computeDtype) {
        /** The load-time quantization of the decoder projections, or null for none. */
        public Quantization forLoading() {
            return switch (type) {
                case NONE -> null;
                case NF4 -> new Quantization(Codebook.NF4, blockSize, doubleQuant);
                case FP4 -> new Quantization(Codebook.FP4, blockSize, doubleQuant);
            };
        }
    }

    /** {@code target_modules}: module names (q_proj, ..., down_proj) or the single word {@code all-linear}. */
    public record LoraSection(Integer r, Double alpha, Double dropout, List<String> targetModules, Boolean useRslora) {}

    /**
     * The data: one source ({@code path}, {@code format}) or several ({@code sources}); the other fields apply to every
     * source. {@code max_seq_len} bounds a Q&A example and a text window alike.
     */
    public record DatasetSection(
            String path,
            DatasetFormat format,
            List<SourceSection> sources,
            Integer maxSeqLen,
            TruncationPolicy truncation,
            ReasoningPolicy reasoning,
            Double evalFraction,
            String evalPath,
            String system,
            String promptColumn,
            String completionColumn,
            Boolean csvHeader) {
        public CsvColumns csvColumns() {
            return new CsvColumns(promptColumn, completionColumn, csvHeader);
        }

        /** Every source: {@code sources} as given, or the single {@code path} / {@code format} as one. */
        public List<SourceSection> sourceList() {
            if (sources != null && !sources.isEmpty()) return sources;
            return List.of(new SourceSection(path, format, null, null, null, null, null));
        }

        /** The encoder these settings describe (length, truncation, reasoning), the same for training, data check and stats. */
        public dev.loraworkbench.datasets.ExampleEncoder encoder(dev.loraworkbench.datasets.TokenizerFiles tokenizer) {
            return new dev.loraworkbench.datasets.ExampleEncoder(tokenizer, maxSeqLen, truncation, reasoning);
        }
    }

    /**
     * One source of data. {@code format: text} (alias {@code completion}) reads files as documents: {@code path} is a file,
     * a directory or a glob, {@code exclude} globs leave files out (relative to the path's root), files over
     * {@code max_file_size} (default 1MB), binary and non-UTF-8 files are skipped and counted; {@code add_path_header}
     * starts each document with its path; {@code stride} overlaps consecutive windows by that many tokens of context.
     * {@code weight} scales how many of the source's training examples an epoch holds (2: each twice; 0.5: a seeded half).
     */
    public record SourceSection(String path, DatasetFormat format, List<String> exclude, Double weight, Boolean addPathHeader,
                                Integer stride, String maxFileSize) {
        public static final String DEFAULT_MAX_FILE_SIZE = "1MB";

        public DatasetFormat formatOrAuto() { return format == null ? DatasetFormat.AUTO : format; }

        public boolean text() { return format == DatasetFormat.TEXT; }

        public List<String> excludeList() { return exclude == null ? List.of() : exclude; }

        public double weightOrOne() { return weight == null ? 1.0 : weight; }

        public boolean pathHeader() { return Boolean.TRUE.equals(addPathHeader); }

        public int strideOrZero() { return stride == null ? 0 : stride; }

        public long maxFileBytes() {
            return dev.loraworkbench.trainer.io.ByteSizes.parse(maxFileSize == null ? DEFAULT_MAX_FILE_SIZE : maxFileSize).orElseThrow();
        }
    }

    public enum Schedule { COSINE, LINEAR, CONSTANT }

    /** What training updates: a LoRA adapter on the frozen base, or every weight of the model (small models). */
    public enum Method { LORA, FULL }

    /** AdamW with fp32 moments (torch.optim.AdamW), or with bitsandbytes' 8-bit blockwise moments (adamw_8bit): 2 bytes a value instead of 8. */
    public enum Optimizer { ADAMW, ADAMW_8BIT }

    /** The adapter a finished run leaves in runs/&lt;name&gt;/: the best by training.metric_for_best, or the last step's. */
    public enum FinalAdapter { BEST, LAST }

    public record TrainingSection(
            Method method,
            Integer epochs,
            Integer maxSteps,
            Integer microBatchSize,
            Integer gradAccum,
            Double lr,
            Schedule schedule,
            Integer warmupSteps,
            Double warmupRatio,
            Double weightDecay,
            Optimizer optimizer,
            Double maxGradNorm,
            Integer seed,
            Integer logEvery,
            Integer evalEvery,
            Integer saveEvery,
            Integer keepCheckpoints,
            Boolean gradientCheckpointing,
            ComputeDtype checkpointDtype,
            Boolean packing,
            String metricForBest,
            Integer earlyStoppingPatience,
            FinalAdapter finalAdapter) {
        /** Layer-wise recomputation: as set, or on by default for a quantized base (where memory is the point). */
        public boolean recomputeLayers(QuantType quantization) {
            return gradientCheckpointing != null ? gradientCheckpointing : quantization != QuantType.NONE;
        }
    }

    /** What evaluation by generation scores: the answers the model generates for the eval questions, against the references. */
    public enum Metric {
        EXACT_MATCH, TOKEN_F1, ROUGE_L, LOSS, PERPLEXITY;

        /** As recipes and TensorBoard tags name it: "token_f1" (logged as eval/token_f1). */
        public String key() { return name().toLowerCase(java.util.Locale.ROOT); }

        /** Its TensorBoard tag, e.g. "eval/token_f1" (what training.metric_for_best names). */
        public String tag() { return "eval/" + key(); }

        /** Scores go up as answers get better; loss and perplexity go down. */
        public boolean higherIsBetter() { return generated(); }

        public static java.util.Optional<Metric> byTag(String tag) {
            return tag.startsWith("eval/") ? byKey(tag.substring("eval/".length())) : java.util.Optional.empty();
        }

        /** Scored on generated answers (the others come from the teacher-forced loss). */
        public boolean generated() { return this == EXACT_MATCH || this == TOKEN_F1 || this == ROUGE_L; }

        public static java.util.Optional<Metric> byKey(String key) {
            return java.util.Arrays.stream(values()).filter(m -> m.key().equals(key)).findFirst();
        }
    }

    /**
     * Evaluation: {@code every} N steps (null: training.eval_every; always at step 0 and at the end), {@code samples}
     * (null: every eval question; N: N chosen once per run with the seed), {@code max_new_tokens} per answer, and the
     * {@code metrics} scored.
     */
    public record EvalSection(Integer every, Integer samples, Integer maxNewTokens, List<String> metrics) {
        public int every(TrainingSection t) { return every != null ? every : t.evalEvery(); }

        public List<Metric> metricList() {
            return metrics.stream().map(m -> Metric.byKey(m).orElseThrow()).toList();
        }

        public boolean generates() { return metricList().stream().anyMatch(Metric::generated); }
    }

    /** {@code runs_dir}: where run directories go; {@code name}: the run's directory name (default: recipe name + time). */
    public record OutputSection(String runsDir, String name) {}
}
