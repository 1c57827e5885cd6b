package dev.loraworkbench.trainer.runs;

import dev.loraworkbench.trainer.recipe.RecipeDiff;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVPrinter;

/** The rows of `runs list` and `runs compare`: one code path for the CLI (as text or CSV) and for notebooks (as a table). */
public record RunTable(List<String> header, List<List<String>> rows) {

    /** One row per run in {@code runsDir}: status, steps, losses, model, r, lr, start, duration. */
    public static RunTable list(Path runsDir) throws IOException {
        if (!Files.isDirectory(runsDir)) throw new RunException(runsDir + ": no such runs directory");
        List<Path> dirs;
        try (Stream<Path> s = Files.list(runsDir)) {
            dirs = s.filter(d -> Files.isRegularFile(d.resolve(RunDirectory.RECIPE))).sorted(Comparator.comparing(Path::getFileName)).toList();
        }
        List<String> header = List.of("name", "status", "steps", "best_eval_loss", "final_train_loss", "base_model", "quantization", "r", "lr",
                "started", "duration", "best");
        List<List<String>> rows = new ArrayList<>();
        for (Path d : dirs) {
            RunStatus s = RunStatus.read(d).orElse(null);
            if (s == null) {
                rows.add(List.of(d.getFileName().toString(), "unknown", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"));
                continue;
            }
            rows.add(List.of(d.getFileName().toString(), s.effectiveStatus().label(), s.steps() + "/" + s.totalSteps(), fmt(s.bestEvalLoss()),
                    fmt(s.finalTrainLoss()), Path.of(s.baseModel()).getFileName().toString(), s.quantization(), Integer.toString(s.r()),
                    String.format("%.2e", s.lr()), s.started().substring(0, Math.min(19, s.started().length())).replace('T', ' '), fmt(s.duration()),
                    fmt(s.best())));
        }
        return new RunTable(header, rows);
    }

    /** The recipe fields that differ between runs, side by side, then their key metrics. */
    public static RunTable compare(List<Path> runs) throws IOException {
        List<Map<String, String>> recipes = new ArrayList<>();
        for (Path run : runs) {
            Path recipe = run.resolve(RunDirectory.RECIPE);
            if (!Files.isRegularFile(recipe)) throw new RunException(run + ": not a run directory (no " + RunDirectory.RECIPE + ")");
            recipes.add(RecipeDiff.flatten(Files.readString(recipe)));
        }
        List<String> header = new ArrayList<>(List.of("field"));
        runs.forEach(r -> header.add(r.getFileName().toString()));
        List<List<String>> rows = new ArrayList<>();
        TreeSet<String> keys = new TreeSet<>();
        recipes.forEach(m -> keys.addAll(m.keySet()));
        for (String key : keys) {
            if (key.equals("output.name")) continue;
            List<String> values = recipes.stream().map(m -> m.getOrDefault(key, "(absent)")).toList();
            if (values.stream().distinct().count() > 1) {
                List<String> row = new ArrayList<>(List.of(key));
                row.addAll(values);
                rows.add(row);
            }
        }
        for (String metric : List.of("status", "steps", "final_train_loss", "best_eval_loss", "best", "duration")) {
            List<String> row = new ArrayList<>(List.of(metric));
            for (Path run : runs) {
                RunStatus s = RunStatus.read(run).orElse(null);
                row.add(s == null ? "-" : switch (metric) {
                    case "status" -> s.effectiveStatus().label();
                    case "steps" -> s.steps() + "/" + s.totalSteps();
                    case "final_train_loss" -> fmt(s.finalTrainLoss());
                    case "best_eval_loss" -> fmt(s.bestEvalLoss());
                    case "best" -> fmt(s.best());
                    default -> fmt(s.duration());
                });
            }
            rows.add(row);
        }
        return new RunTable(header, rows);
    }

    /** Columns padded to their widest cell, two spaces apart. */
    public String text() {
        int[] width = new int[header.size()];
        for (int c = 0; c < header.size(); c++) {
            width[c] = header.get(c).length();
            for (List<String> row : rows) width[c] = Math.max(width[c], row.get(c).length());
        }
        StringBuilder sb = new StringBuilder();
        List<List<String>> all = new ArrayList<>();
        all.add(header);
        all.addAll(rows);
        for (List<String> row : all) {
            for (int c = 0; c < row.size(); c++) sb.append(String.format("%-" + width[c] + "s", row.get(c))).append(c + 1 < row.size() ? "  " : "");
            sb.append('\n');
        }
        return sb.toString();
    }

    /** RFC 4180 CSV with a header line. */
    public String csv() {
        StringWriter out = new StringWriter();
        try (CSVPrinter p = new CSVPrinter(out, CSVFormat.RFC4180.builder().setHeader(header.toArray(new String[0])).get())) {
            for (List<String> row : rows) p.printRecord(row);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return out.toString();
    }

    static String fmt(Double d) { return d == null ? "-" : String.format("%.4f", d); }

    /** The best by the run's metric_for_best: "eval/token_f1=0.5312@120". */
    static String fmt(BestSoFar b) {
        return b == null || b.value() == null ? "-" : String.format("%s=%.4f@%d", b.metric(), b.value(), b.step());
    }

    static String fmt(Duration d) {
        long s = d.getSeconds();
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s % 3600 / 60) : String.format("%dm%02ds", s / 60, s % 60);
    }
}
