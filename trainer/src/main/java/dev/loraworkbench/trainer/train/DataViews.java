package dev.loraworkbench.trainer.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.loraworkbench.datasets.DatasetCheck;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.DatasetStats;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.Example;
import dev.loraworkbench.datasets.ExampleEncoder;
import dev.loraworkbench.datasets.ReasoningPolicy;
import dev.loraworkbench.datasets.TextDocuments;
import dev.loraworkbench.datasets.TextWindows;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.datasets.TrainedSpans;
import dev.loraworkbench.datasets.TruncationPolicy;
import dev.loraworkbench.datasets.UserError;
import dev.loraworkbench.trainer.eval.EvalQuestion;
import dev.loraworkbench.trainer.model.TinyModels;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** A recipe's data as the trainer sees it, for `data check / stats / show` and notebooks: the same code path as training. */
public final class DataViews {
    private DataViews() {}

    /** A check over the recipe's data files. */
    public record Checked(DatasetCheck.Report report, List<Path> files) {}

    /**
     * Every problem in the recipe's train (and eval) file, with lengths after the chat template checked against
     * max_seq_len when the model's tokenizer is there already (else a note on {@code notes} says they were not).
     */
    public static Checked check(LoadedRecipe loaded, PrintStream notes) {
        Recipe.DatasetSection d = loaded.recipe().dataset();
        Path modelDir = loaded.modelDir();
        TokenizerFiles tokenizer = Files.isRegularFile(modelDir.resolve("tokenizer.json")) ? loaded.tokenizer(modelDir) : null;
        if (tokenizer == null) notes.println("note: " + modelDir + " has no tokenizer yet; lengths after the chat template are not checked");
        try {
            ExampleEncoder encoder = tokenizer == null ? null : d.encoder(tokenizer);
            List<Path> files = new ArrayList<>();
            DatasetCheck.Report report = null;
            for (Recipe.SourceSection s : d.sourceList()) {
                Path path = loaded.resolve(s.path());
                files.add(path);
                DatasetCheck.Report one = s.text() ? DatasetCheck.text(path, s.excludeList(), s.maxFileBytes())
                        : DatasetCheck.run(path, s.formatOrAuto(), d.csvColumns(), d.system(), encoder);
                report = report == null ? one : report.plus(one);
            }
            if (d.evalPath() != null) {
                files.add(loaded.resolve(d.evalPath()));
                report = report.plus(DatasetCheck.run(loaded.resolve(d.evalPath()), d.format(), d.csvColumns(), d.system(), encoder));
            }
            return new Checked(report, files);
        } finally {
            if (tokenizer != null) tokenizer.close();
        }
    }

    /** Token statistics with the model's tokenizer and chat template, as printable lines. */
    public static List<String> stats(LoadedRecipe loaded, PrintStream log) throws IOException {
        Recipe.DatasetSection d = loaded.recipe().dataset();
        Path modelDir = TinyModels.ensure(loaded.modelDir(), loaded.recipe().model().initPreset(), log);
        try (TokenizerFiles tokenizer = loaded.tokenizer(modelDir)) {
            List<String> lines = new ArrayList<>();
            for (Recipe.SourceSection source : d.sourceList()) {
                if (!lines.isEmpty()) lines.add("");
                Path path = loaded.resolve(source.path());
                if (source.text()) {
                    lines.addAll(textStats(path, source, d.maxSeqLen(), tokenizer));
                    continue;
                }
                List<Example> examples = DatasetReader.read(path, source.formatOrAuto(), d.csvColumns(), d.system());
                DatasetStats s = DatasetStats.of(examples, d.encoder(tokenizer));
                lines.add(String.format("%s: %d examples, %d exact duplicates; %d truncated, %d dropped at max_seq_len %d (%s)", path,
                        s.examples(), s.duplicates(), s.truncated(), s.dropped(), d.maxSeqLen(), d.truncation().name().toLowerCase(Locale.ROOT)));
                lines.add("tokens        min  median     p95     max    mean");
                for (var row : List.of(Map.entry("prompt", s.prompt()), Map.entry("completion", s.completion()), Map.entry("total", s.total()))) {
                    lines.add(distributionRow(row.getKey(), row.getValue()));
                }
                lines.addAll(histogram("total tokens per example:", s.total()));
                lines.add(String.format("tokens per epoch: %,d (%,d trained completion tokens)", s.tokensPerEpoch(), s.trainedTokensPerEpoch()));
            }
            return lines;
        }
    }

    /** A text source: documents, the windows they are cut into, tokens per window and per epoch. */
    private static List<String> textStats(Path path, Recipe.SourceSection source, int maxSeqLen, TokenizerFiles tokenizer) {
        TextDocuments.Scan scan = TextDocuments.read(path, source.excludeList(), source.maxFileBytes());
        TextWindows cutter = new TextWindows(tokenizer, maxSeqLen, source.strideOrZero(), source.pathHeader());
        List<Integer> perDocument = new ArrayList<>();
        List<Integer> perWindow = new ArrayList<>();
        long trained = 0;
        for (TextDocuments.Document doc : scan.documents()) {
            int tokens = 0;
            for (EncodedExample w : cutter.windows(doc)) {
                perWindow.add(w.ids().length);
                tokens += w.trainedTokens();
            }
            perDocument.add(tokens);
            trained += tokens;
        }
        var windows = DatasetStats.Distribution.of(perWindow.stream().mapToInt(Integer::intValue).toArray());
        var documents = DatasetStats.Distribution.of(perDocument.stream().mapToInt(Integer::intValue).toArray());
        List<String> lines = new ArrayList<>();
        lines.add(String.format("%s (text): %d documents -> %d windows of up to %d tokens%s%s", path, scan.documents().size(), perWindow.size(),
                maxSeqLen, source.strideOrZero() > 0 ? " (stride " + source.strideOrZero() + ")" : "",
                scan.skippedCount() == 0 ? "" : "; " + scan.skippedCount() + " files skipped (" + scan.skippedSummary() + ")"));
        lines.add("tokens        min  median     p95     max    mean");
        lines.add(distributionRow("document", documents));
        lines.add(distributionRow("window", windows));
        lines.addAll(histogram("tokens per window:", windows));
        lines.add(String.format("tokens per epoch: %,d (%,d trained)", windows.values().length == 0 ? 0 : Math.round(windows.mean() * windows.values().length),
                trained));
        return lines;
    }

    private static String distributionRow(String name, DatasetStats.Distribution x) {
        return String.format("%-10s %6d %7d %7d %7d %7.1f", name, x.min(), x.median(), x.p95(), x.max(), x.mean());
    }

    private static List<String> histogram(String title, DatasetStats.Distribution x) {
        List<String> lines = new ArrayList<>(List.of("", title));
        String histogram = x.histogram(10, 40);
        if (!histogram.isEmpty()) lines.add(histogram.substring(0, histogram.length() - 1)); // without its last newline
        lines.add("");
        return lines;
    }

    /** Eval conversations as written and as training encodes them (for loss), pair by pair. */
    public record EvalData(List<Example> examples, List<EncodedExample> encoded) {
        /** {@code samples} pairs chosen with {@code seed} (all when null). */
        public EvalData chosen(Integer samples, long seed) {
            List<Integer> picked = EvalQuestion.chosen(java.util.stream.IntStream.range(0, examples.size()).boxed().toList(), samples, seed);
            return new EvalData(picked.stream().map(examples::get).toList(), picked.stream().map(encoded::get).toList());
        }
    }

    /**
     * What `eval` scores: {@code file} (any dataset format) when given, else the run's eval split as it trained with it.
     * Encoded with the run's dataset settings, or the defaults (max_seq_len 4096, truncate) without a run.
     */
    public static EvalData evalData(LoadedRecipe run, Path file, TokenizerFiles tokenizer) {
        if (file == null) {
            if (run == null) throw new UserError("give --data FILE: without a run there is no eval split to score");
            TrainingData data = TrainingData.load(run, tokenizer);
            if (data.evalExamples().isEmpty()) {
                throw new UserError(run.file() + " has no eval split (dataset.eval_fraction or dataset.eval_path); give --data FILE");
            }
            return new EvalData(data.evalExamples(), data.eval());
        }
        Recipe.DatasetSection d = run == null ? null : run.recipe().dataset();
        List<Example> all = DatasetReader.read(file, DatasetFormat.AUTO, null, d == null ? null : d.system());
        ExampleEncoder encoder = d != null ? d.encoder(tokenizer)
                : new ExampleEncoder(tokenizer, DEFAULT_EVAL_LENGTH, TruncationPolicy.TRUNCATE, ReasoningPolicy.TEMPLATE);
        List<Example> kept = new ArrayList<>();
        List<EncodedExample> encoded = new ArrayList<>();
        for (Example e : all) {
            var enc = encoder.encode(e);
            if (enc.isEmpty()) continue; // longer than max_seq_len under truncation: drop, as training does
            kept.add(e);
            encoded.add(enc.get());
        }
        if (kept.isEmpty()) throw new UserError(file + ": no example left to evaluate after encoding");
        return new EvalData(kept, encoded);
    }

    private static final int DEFAULT_EVAL_LENGTH = 4096;

    /** How to show examples: which split, which ones ({@code index} alone, else the first {@code n}), as JSON or marked text. */
    public record ShowOptions(String split, int n, Integer index, boolean json, boolean colour) {
        public ShowOptions {
            if (!split.equals("train") && !split.equals("eval")) throw new UserError("--split " + split + ": expected train or eval");
        }
    }

    /**
     * Examples exactly as the trainer encodes them: rendered text with the trained tokens marked, or one JSON object per
     * example (index, text, ids, labels with -100 where no loss).
     */
    public static List<String> show(LoadedRecipe loaded, ShowOptions o, PrintStream log) throws IOException {
        Path modelDir = TinyModels.ensure(loaded.modelDir(), loaded.recipe().model().initPreset(), log);
        try (TokenizerFiles tokenizer = loaded.tokenizer(modelDir)) {
            TrainingData data = TrainingData.load(loaded, tokenizer); // the trainer's own code path
            List<EncodedExample> examples = o.split().equals("train") ? data.train() : data.eval();
            Integer index = o.index();
            if (index != null && (index < 0 || index >= examples.size())) {
                throw new UserError("--index " + index + ": the " + o.split() + " split has " + examples.size()
                        + " examples (0.." + (examples.size() - 1) + ")");
            }
            int from = index == null ? 0 : index;
            int to = index == null ? Math.min(o.n(), examples.size()) : index + 1;
            ObjectMapper mapper = new ObjectMapper();
            List<String> lines = new ArrayList<>();
            for (int i = from; i < to; i++) {
                EncodedExample e = examples.get(i);
                if (o.json()) {
                    ObjectNode node = mapper.createObjectNode().put("index", i).put("text", tokenizer.decode(e.ids()));
                    var ids = node.putArray("ids");
                    for (int id : e.ids()) ids.add(id);
                    var labels = node.putArray("labels");
                    for (int l : e.labels()) labels.add(l);
                    lines.add(mapper.writeValueAsString(node));
                } else {
                    lines.add("--- " + o.split() + " example " + i + (o.colour() ? " (trained tokens in green)" : " (trained tokens in [[...]])") + " ---");
                    lines.add(TrainedSpans.marked(tokenizer, e, o.colour()));
                    lines.add(String.format("tokens: %d, trained: %d, truncated: %s", e.ids().length, e.trainedTokens(), e.truncated() ? "yes" : "no"));
                }
            }
            return lines;
        }
    }
}
