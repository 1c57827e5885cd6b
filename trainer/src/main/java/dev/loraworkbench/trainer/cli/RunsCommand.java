package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.recipe.RecipeDiff;
import dev.loraworkbench.trainer.runs.RunDirectory;
import dev.loraworkbench.trainer.runs.RunPlot;
import dev.loraworkbench.trainer.runs.RunStatus;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVPrinter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "runs", mixinStandardHelpOptions = true, description = "List, compare and plot training runs.",
        subcommands = {RunsCommand.ListRuns.class, RunsCommand.Compare.class, RunsCommand.Plot.class})
final class RunsCommand {

    static String fmt(Double d) { return d == null ? "-" : String.format("%.4f", d); }

    static String fmt(Duration d) {
        long s = d.getSeconds();
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s % 3600 / 60) : String.format("%dm%02ds", s / 60, s % 60);
    }

    static String table(List<String> header, List<List<String>> rows) {
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

    static String csv(List<String> header, List<List<String>> rows) throws IOException {
        StringWriter out = new StringWriter();
        try (CSVPrinter p = new CSVPrinter(out, CSVFormat.RFC4180.builder().setHeader(header.toArray(new String[0])).get())) {
            for (List<String> row : rows) p.printRecord(row);
        }
        return out.toString();
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "One line per run: status, steps, losses, model, r, lr, start, duration.")
    static final class ListRuns implements Callable<Integer> {
        @Option(names = "--runs-dir", defaultValue = "runs", description = "default ${DEFAULT-VALUE}") Path runsDir;
        @Option(names = "--csv", description = "CSV instead of a table") boolean asCsv;

        @Override
        public Integer call() throws Exception {
            if (!Files.isDirectory(runsDir)) throw new WorkbenchCli.UserInputException(runsDir + ": no such runs directory");
            List<Path> dirs;
            try (Stream<Path> s = Files.list(runsDir)) {
                dirs = s.filter(d -> Files.isRegularFile(d.resolve(RunDirectory.RECIPE))).sorted(Comparator.comparing(Path::getFileName)).toList();
            }
            List<String> header = List.of("name", "status", "steps", "best_eval_loss", "final_train_loss", "base_model", "quantization", "r", "lr", "started", "duration");
            List<List<String>> rows = new ArrayList<>();
            for (Path d : dirs) {
                RunStatus s = RunStatus.read(d).orElse(null);
                if (s == null) {
                    rows.add(List.of(d.getFileName().toString(), "unknown", "-", "-", "-", "-", "-", "-", "-", "-", "-"));
                    continue;
                }
                rows.add(List.of(d.getFileName().toString(), s.effectiveStatus(), s.steps() + "/" + s.totalSteps(), fmt(s.bestEvalLoss()),
                        fmt(s.finalTrainLoss()), Path.of(s.baseModel()).getFileName().toString(), s.quantization(), Integer.toString(s.r()),
                        String.format("%.2e", s.lr()), s.started().substring(0, Math.min(19, s.started().length())).replace('T', ' '), fmt(s.duration())));
            }
            System.out.print(asCsv ? csv(header, rows) : rows.isEmpty() ? "no runs in " + runsDir + "\n" : table(header, rows));
            return 0;
        }
    }

    @Command(name = "compare", mixinStandardHelpOptions = true, description = "Recipe differences side by side, then the key metrics.")
    static final class Compare implements Callable<Integer> {
        @Parameters(arity = "2..*", paramLabel = "RUN_DIR") List<Path> runs;
        @Option(names = "--csv", description = "CSV instead of a table") boolean asCsv;

        @Override
        public Integer call() throws Exception {
            List<Map<String, String>> recipes = new ArrayList<>();
            for (Path run : runs) {
                Path recipe = run.resolve(RunDirectory.RECIPE);
                if (!Files.isRegularFile(recipe)) throw new WorkbenchCli.UserInputException(run + ": not a run directory (no " + RunDirectory.RECIPE + ")");
                recipes.add(RecipeDiff.flatten(Files.readString(recipe)));
            }
            List<String> header = new ArrayList<>(List.of("field"));
            runs.forEach(r -> header.add(r.getFileName().toString()));
            List<List<String>> rows = new ArrayList<>();
            TreeMap<String, Boolean> keys = new TreeMap<>();
            recipes.forEach(m -> m.keySet().forEach(k -> keys.put(k, true)));
            for (String key : keys.keySet()) {
                if (key.equals("output.name")) continue;
                List<String> values = recipes.stream().map(m -> m.getOrDefault(key, "(absent)")).toList();
                if (values.stream().distinct().count() > 1) {
                    List<String> row = new ArrayList<>(List.of(key));
                    row.addAll(values);
                    rows.add(row);
                }
            }
            for (String metric : List.of("status", "steps", "final_train_loss", "best_eval_loss", "duration")) {
                List<String> row = new ArrayList<>(List.of(metric));
                for (Path run : runs) {
                    RunStatus s = RunStatus.read(run).orElse(null);
                    row.add(s == null ? "-" : switch (metric) {
                        case "status" -> s.effectiveStatus();
                        case "steps" -> s.steps() + "/" + s.totalSteps();
                        case "final_train_loss" -> fmt(s.finalTrainLoss());
                        case "best_eval_loss" -> fmt(s.bestEvalLoss());
                        default -> fmt(s.duration());
                    });
                }
                rows.add(row);
            }
            System.out.print(asCsv ? csv(header, rows) : table(header, rows));
            return 0;
        }
    }

    @Command(name = "plot", mixinStandardHelpOptions = true,
            description = "Curves of one or more runs as a PNG: one panel per tag, one line per run (resumed runs as TensorBoard shows them).")
    static final class Plot implements Callable<Integer> {
        @Parameters(arity = "1..*", paramLabel = "RUN_DIR") List<Path> runs;
        @Option(names = "--out", required = true, paramLabel = "FILE", description = "PNG file to write") Path out;
        @Option(names = "--tags", split = ",", paramLabel = "TAG",
                description = "default: train/loss, train/grad_norm, train/learning_rate, train/mean_token_accuracy, and eval/loss when present")
        List<String> tags = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            RunPlot plot;
            try {
                plot = RunPlot.of(runs, tags);
            } catch (IllegalArgumentException e) {
                throw new WorkbenchCli.UserInputException(e.getMessage());
            }
            plot.writePng(out);
            System.out.printf("wrote %s: %s for %d run(s)%n", out, String.join(", ", plot.tags()), runs.size());
            return 0;
        }
    }
}
