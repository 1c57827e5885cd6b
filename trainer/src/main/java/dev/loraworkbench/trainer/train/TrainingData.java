package dev.loraworkbench.trainer.train;

import dev.loraworkbench.datasets.CsvColumns;
import dev.loraworkbench.datasets.DatasetException;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.Example;
import dev.loraworkbench.datasets.ExampleEncoder;
import dev.loraworkbench.datasets.LeakageAwareSplit;
import dev.loraworkbench.datasets.TextDocuments;
import dev.loraworkbench.datasets.TextWindows;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The recipe's data read, split into train / eval and encoded: Q&A sources through the model's chat template, text
 * sources as documents cut into windows. Q&A pairs of every source are split together (leakage-aware, so near
 * duplicates never straddle the split); text sources are split by file, never inside one.
 *
 * @param evalExamples the eval conversations as written, one per Q&A entry of {@code eval} (what evaluation by generation asks and scores)
 * @param withSystemPrompt training conversations that carry a (non-blank) system message
 * @param sources what each source gave, in recipe order
 */
public record TrainingData(List<EncodedExample> train, List<EncodedExample> eval, List<Example> evalExamples, int dropped, int truncated,
        LeakageAwareSplit.Result split, int withSystemPrompt, List<SourceReport> sources) {

    /**
     * One source's share: {@code read} examples (Q&A pairs) or documents (text) and the files skipped as unreadable text;
     * {@code train} / {@code eval} encoded examples (text: windows) after the split and the weight.
     */
    public record SourceReport(String path, Recipe.SourceSection source, int read, TextDocuments.Scan skipped, int train, int eval, long trainTokens) {
        /** "project-qa.jsonl (qa): 30 examples -> 27 train / 3 eval" or "docs (text): 12 files -> 40 train / 4 eval windows, 2 skipped (2 binary)". */
        public String describe() {
            String format = source.formatOrAuto().name().toLowerCase(java.util.Locale.ROOT);
            String unit = source.text() ? "files" : "examples";
            String windows = source.text() ? " windows" : "";
            String weight = source.weightOrOne() == 1.0 ? "" : String.format(" (weight %s)", source.weightOrOne());
            String skip = skipped == null || skipped.skippedCount() == 0 ? "" : ", " + skipped.skippedCount() + " skipped (" + skipped.skippedSummary() + ")";
            return String.format("%s (%s): %d %s -> %d train / %d eval%s%s, %,d train tokens%s", path, format, read, unit, train, eval, windows,
                    weight, trainTokens, skip);
        }
    }

    public static TrainingData load(LoadedRecipe loaded, TokenizerFiles tokenizer) {
        Recipe.DatasetSection d = loaded.recipe().dataset();
        long seed = loaded.recipe().training().seed();
        boolean splitByFraction = d.evalPath() == null && d.evalFraction() != null && d.evalFraction() > 0;
        List<Recipe.SourceSection> sources = d.sourceList();

        // Q&A pairs of all sources first, so one leakage-aware split sees them together
        Map<Example, Integer> sourceOf = new IdentityHashMap<>();
        List<Example> pairs = new ArrayList<>();
        int[] read = new int[sources.size()];
        for (int i = 0; i < sources.size(); i++) {
            Recipe.SourceSection s = sources.get(i);
            if (s.text()) continue;
            List<Example> examples = DatasetReader.read(loaded.resolve(s.path()), s.formatOrAuto(), d.csvColumns(), d.system());
            read[i] = examples.size();
            for (Example e : examples) sourceOf.put(e, i);
            pairs.addAll(examples);
        }
        List<Example> trainPairs = pairs;
        List<Example> evalPairs = List.of();
        LeakageAwareSplit.Result split = null;
        if (d.evalPath() != null) {
            // eval_path holds Q&A pairs: read as the first Q&A source's format (auto when every source is text)
            var format = sources.stream().filter(s -> !s.text()).map(Recipe.SourceSection::formatOrAuto).findFirst().orElse(DatasetFormat.AUTO);
            evalPairs = DatasetReader.read(loaded.resolve(d.evalPath()), format, d.csvColumns(), d.system());
        } else if (splitByFraction && !pairs.isEmpty()) {
            split = LeakageAwareSplit.split(pairs, d.evalFraction(), seed);
            trainPairs = split.train();
            evalPairs = split.eval();
        }

        ExampleEncoder encoder = d.encoder(tokenizer);
        int[] dropped = {0};
        int[] truncated = {0};
        List<EncodedExample> train = new ArrayList<>();
        List<EncodedExample> eval = new ArrayList<>();
        List<Example> evalKept = new ArrayList<>();
        List<List<EncodedExample>> trainBySource = new ArrayList<>();
        int[] evalCount = new int[sources.size()];
        TextDocuments.Scan[] scans = new TextDocuments.Scan[sources.size()];
        for (int i = 0; i < sources.size(); i++) trainBySource.add(new ArrayList<>());
        List<Example> trainKept = new ArrayList<>();
        List<EncodedExample> trainPairsEncoded = encode(trainPairs, encoder, dropped, truncated, trainKept);
        for (int k = 0; k < trainKept.size(); k++) trainBySource.get(sourceOf.get(trainKept.get(k))).add(trainPairsEncoded.get(k));
        eval.addAll(encode(evalPairs, encoder, dropped, truncated, evalKept));
        for (Example e : evalKept) if (sourceOf.containsKey(e)) evalCount[sourceOf.get(e)]++;

        for (int i = 0; i < sources.size(); i++) {
            Recipe.SourceSection s = sources.get(i);
            if (!s.text()) continue;
            Path path = loaded.resolve(s.path());
            TextDocuments.Scan scan = TextDocuments.read(path, s.excludeList(), s.maxFileBytes());
            if (scan.documents().isEmpty()) {
                throw new DatasetException(path + ": no readable text file (" + scan.skippedSummary() + " skipped); a text source needs UTF-8 files "
                        + "under max_file_size " + (s.maxFileSize() == null ? Recipe.SourceSection.DEFAULT_MAX_FILE_SIZE : s.maxFileSize()));
            }
            scans[i] = scan;
            read[i] = scan.documents().size();
            TextWindows windows = new TextWindows(tokenizer, d.maxSeqLen(), s.strideOrZero(), s.pathHeader());
            List<TextDocuments.Document> docs = new ArrayList<>(scan.documents());
            int evalFiles = splitByFraction && docs.size() >= 2 ? (int) Math.round(docs.size() * d.evalFraction()) : 0;
            Collections.shuffle(docs, new Random(seed * 31 + i)); // which files go to eval: fixed by the seed
            for (int k = 0; k < docs.size(); k++) {
                List<EncodedExample> w = windows.windows(docs.get(k));
                if (k < evalFiles) {
                    eval.addAll(w);
                    evalCount[i] += w.size();
                } else {
                    trainBySource.get(i).addAll(w);
                }
            }
        }

        List<SourceReport> reports = new ArrayList<>();
        for (int i = 0; i < sources.size(); i++) {
            Recipe.SourceSection s = sources.get(i);
            List<EncodedExample> weighted = weighted(trainBySource.get(i), s.weightOrOne(), new Random(seed * 7 + i));
            train.addAll(weighted);
            long tokens = weighted.stream().mapToLong(e -> e.ids().length).sum();
            reports.add(new SourceReport(s.path(), s, read[i], scans[i], weighted.size(), evalCount[i], tokens));
        }
        if (train.isEmpty()) {
            throw new DatasetException(loaded.datasetPath() + ": no training examples left after encoding"
                    + (dropped[0] > 0 ? " (" + dropped[0] + " dropped as longer than max_seq_len " + d.maxSeqLen() + ")" : ""));
        }
        int withSystem = (int) trainKept.stream().filter(e -> e.messages().stream().anyMatch(m -> m.role().equals("system") && !m.content().isBlank())).count();
        return new TrainingData(train, eval, List.copyOf(evalKept), dropped[0], truncated[0], split, withSystem, List.copyOf(reports));
    }

    /**
     * The examples {@code weight} times over: each whole copy, then a seeded sample for the fraction (0.5 keeps half, 2.5
     * takes everything twice and a random half once more). Fixed once per run, so every epoch sees the same mix.
     */
    static List<EncodedExample> weighted(List<EncodedExample> examples, double weight, Random random) {
        if (weight == 1.0) return examples;
        List<EncodedExample> out = new ArrayList<>();
        int whole = (int) Math.floor(weight);
        for (int c = 0; c < whole; c++) out.addAll(examples);
        int extra = (int) Math.round((weight - whole) * examples.size());
        List<EncodedExample> shuffled = new ArrayList<>(examples);
        Collections.shuffle(shuffled, random);
        out.addAll(shuffled.subList(0, Math.min(extra, shuffled.size())));
        return out;
    }

    /** @param kept gets the examples that encoded (not dropped), in order */
    private static List<EncodedExample> encode(List<Example> examples, ExampleEncoder encoder, int[] dropped, int[] truncated, List<Example> kept) {
        List<EncodedExample> out = new ArrayList<>();
        for (Example e : examples) {
            var enc = encoder.encode(e);
            if (enc.isEmpty()) { dropped[0]++; continue; }
            if (enc.get().truncated()) truncated[0]++;
            out.add(enc.get());
            kept.add(e);
        }
        return out;
    }

    public long trainTokens() {
        return train.stream().mapToLong(e -> e.ids().length).sum();
    }

    /** More than one source, or text: worth a line per source when a run starts. */
    public boolean describesSources() {
        return sources.size() > 1 || sources.stream().anyMatch(s -> s.source().text());
    }
}
