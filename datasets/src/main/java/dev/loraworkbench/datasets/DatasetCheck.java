package dev.loraworkbench.datasets;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything wrong with a dataset, in one pass: unreadable records (errors), exact duplicates (warnings) and,
 * given an encoder, examples longer than max_seq_len after the chat template (errors under the {@code error}
 * policy, counted warnings under {@code truncate} / {@code drop}).
 */
public final class DatasetCheck {
    /** Problems found: errors stop training, warnings do not. */
    public record Report(int examples, List<String> errors, List<String> warnings, int duplicates, int truncated, int dropped,
                         Map<DatasetFormat, Integer> formats) {
        public boolean ok() { return errors.isEmpty(); }

        /** This report and another file's, as one (a recipe's train and eval files). */
        public Report plus(Report other) {
            List<String> allErrors = new java.util.ArrayList<>(errors);
            allErrors.addAll(other.errors);
            List<String> allWarnings = new java.util.ArrayList<>(warnings);
            allWarnings.addAll(other.warnings);
            Map<DatasetFormat, Integer> allFormats = new java.util.EnumMap<>(DatasetFormat.class);
            allFormats.putAll(formats);
            other.formats.forEach((f, n) -> allFormats.merge(f, n, Integer::sum));
            return new Report(examples + other.examples, allErrors, allWarnings, duplicates + other.duplicates,
                    truncated + other.truncated, dropped + other.dropped, allFormats);
        }
    }

    private DatasetCheck() {}

    /**
     * A text source (files read as documents): every readable file is an example; skipped files (binary, too large, not
     * UTF-8, empty) are warnings that name them, since training goes on without them.
     */
    public static Report text(Path path, java.util.List<String> exclude, long maxBytes) {
        List<String> errors = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        int documents = 0;
        try {
            TextDocuments.Scan scan = TextDocuments.read(path, exclude, maxBytes);
            documents = scan.documents().size();
            scan.skipped().forEach((why, files) -> {
                if (files.isEmpty()) return;
                String listed = String.join(", ", files.stream().limit(5).map(Path::toString).toList()) + (files.size() > 5 ? ", ..." : "");
                warnings.add(path + ": " + files.size() + " file(s) skipped as " + why.reason() + ": " + listed);
            });
            if (documents == 0) errors.add(path + ": no readable text file (" + scan.skippedSummary() + " skipped)");
        } catch (DatasetException e) {
            errors.add(e.getMessage());
        }
        Map<DatasetFormat, Integer> formats = new java.util.EnumMap<>(DatasetFormat.class);
        if (documents > 0) formats.put(DatasetFormat.TEXT, documents);
        return new Report(documents, errors, warnings, 0, 0, 0, formats);
    }

    /** @param encoder null to skip the length check (no tokenizer at hand) */
    public static Report run(Path path, DatasetFormat format, CsvColumns columns, String system, ExampleEncoder encoder) {
        List<String> errors = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        Map<Long, String> seen = new HashMap<>(); // hash -> first source: memory per example, not per character
        int[] counts = new int[4]; // examples, duplicates, truncated, dropped
        Map<DatasetFormat, Integer> formats = new java.util.EnumMap<>(DatasetFormat.class);
        DatasetReader.scan(path, format, columns, system, new DatasetReader.Sink() {
            @Override
            public void example(Example e) {
                counts[0]++;
                String first = seen.putIfAbsent(e.contentHash(), e.source());
                if (first != null) {
                    counts[1]++;
                    warnings.add(e.source() + ": exact duplicate of " + first);
                }
                if (encoder == null) return;
                try {
                    var encoded = encoder.encode(e);
                    if (encoded.isEmpty()) counts[3]++;
                    else if (encoded.get().truncated()) counts[2]++;
                } catch (DatasetException tooLong) {
                    errors.add(tooLong.getMessage());
                }
            }

            @Override
            public void problem(String message) {
                errors.add(message);
            }

            @Override
            public void format(DatasetFormat f) {
                formats.merge(f, 1, Integer::sum);
            }
        });
        if (counts[2] > 0) warnings.add(counts[2] + " example(s) longer than max_seq_len are truncated (dataset.truncation: truncate)");
        if (counts[3] > 0) warnings.add(counts[3] + " example(s) are dropped: too long, or nothing left to train after truncation");
        if (counts[0] == 0 && errors.isEmpty()) errors.add(path + ": no examples found");
        return new Report(counts[0], errors, warnings, counts[1], counts[2], counts[3], formats);
    }
}
