package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.datasets.DatasetCheck;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.Example;
import dev.loraworkbench.datasets.LeakageAwareSplit;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.train.DataViews;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "data", mixinStandardHelpOptions = true, description = "Work with Q&A datasets.", subcommands = {DataCommand.Check.class, DataCommand.Stats.class, DataCommand.Show.class, DataCommand.Split.class})
final class DataCommand {

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "List every problem in a dataset (file:line: field: what is wrong); exit code 2 when there are errors. "
                    + "Given a recipe, also checks lengths after the model's chat template against dataset.max_seq_len.")
    static final class Check implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "RECIPE_OR_FILE") Path target;
        @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "override a recipe field") List<String> overrides = new ArrayList<>();
        @Option(names = "--max-listed", defaultValue = "50", description = "problems listed per kind (default ${DEFAULT-VALUE})") int maxListed;

        @Override
        public Integer call() throws Exception {
            String name = target.getFileName().toString().toLowerCase(Locale.ROOT);
            DataViews.Checked checked = name.endsWith(".yaml") || name.endsWith(".yml")
                    ? DataViews.check(RecipeLoader.load(target, overrides), System.out)
                    : new DataViews.Checked(DatasetCheck.run(target, DatasetFormat.AUTO, null, null, null), List.of(target));
            DatasetCheck.Report report = checked.report();
            List<Path> files = checked.files();
            print("error", report.errors());
            print("warning", report.warnings());
            System.out.printf("%s: %d examples, %d error(s), %d warning(s); read as %s%n", files.size() == 1 ? files.get(0) : files,
                    report.examples(), report.errors().size(), report.warnings().size(), describe(report.formats()));
            return report.ok() ? 0 : WorkbenchCli.USER_ERROR;
        }

        private static String describe(java.util.Map<DatasetFormat, Integer> formats) {
            if (formats.isEmpty()) return "nothing";
            StringBuilder sb = new StringBuilder();
            formats.forEach((f, n) -> sb.append(sb.length() == 0 ? "" : ", ").append(f.name().toLowerCase(Locale.ROOT)).append(" (").append(n).append(')'));
            return sb.toString();
        }

        private void print(String kind, List<String> lines) {
            lines.stream().limit(maxListed).forEach(l -> System.out.println(kind + ": " + l));
            if (lines.size() > maxListed) System.out.println(kind + ": ... and " + (lines.size() - maxListed) + " more");
        }

    }

    @Command(name = "stats", mixinStandardHelpOptions = true,
            description = "Token counts with the model's tokenizer and chat template: prompt / completion / total lengths, histogram, "
                    + "truncation, duplicates, tokens per epoch.")
    static final class Stats implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "RECIPE") Path recipe;
        @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "override a recipe field") List<String> overrides = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            DataViews.stats(RecipeLoader.load(recipe, overrides), System.out).forEach(System.out::println);
            return 0;
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "Examples exactly as the trainer sees them: rendered text with the trained tokens marked, or ids and labels as JSON.")
    static final class Show implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "RECIPE") Path recipe;
        @Option(names = "--n", defaultValue = "3", description = "how many examples (default ${DEFAULT-VALUE})") int n;
        @Option(names = "--index", description = "show only this example (0-based, in the split)") Integer index;
        @Option(names = "--split", defaultValue = "train", description = "train | eval (default ${DEFAULT-VALUE})") String split;
        @Option(names = "--json", description = "one JSON object per line: index, text, ids, labels (-100 where no loss)") boolean json;
        @Option(names = "--set", paramLabel = "FIELD=VALUE", description = "override a recipe field") List<String> overrides = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            boolean colour = !json && System.console() != null && !"dumb".equals(System.getenv("TERM"));
            var options = new DataViews.ShowOptions(split, n, index, json, colour); // a bad --split fails before the recipe loads
            DataViews.show(RecipeLoader.load(recipe, overrides), options, System.err).forEach(System.out::println);
            return 0;
        }
    }

    @Command(name = "split", mixinStandardHelpOptions = true,
            description = "Leakage-aware train/eval split: near-duplicate and same-topic questions stay on one side.")
    static final class Split implements Callable<Integer> {
        @Option(names = "--in", required = true, paramLabel = "FILE", description = "JSONL or CSV of Q&A pairs") Path in;
        @Option(names = "--eval-fraction", defaultValue = "0.1", description = "default ${DEFAULT-VALUE}") double evalFraction;
        @Option(names = "--out", required = true, paramLabel = "DIR", description = "gets train.jsonl, eval.jsonl, split-report.json") Path out;
        @Option(names = "--seed", defaultValue = "42", description = "default ${DEFAULT-VALUE}") long seed;

        @Override
        public Integer call() throws Exception {
            if (evalFraction <= 0 || evalFraction >= 1) throw new WorkbenchCli.UserInputException("--eval-fraction " + evalFraction + ": expected a number in (0, 1)");
            List<Example> all = DatasetReader.read(in, DatasetFormat.AUTO, null, null);
            LeakageAwareSplit.Result r = LeakageAwareSplit.split(all, evalFraction, seed);
            r.write(out, in, seed);
            System.out.printf("%d examples -> %d train / %d eval in %s%n", all.size(), r.train().size(), r.eval().size(), out);
            System.out.printf("%d groups (largest %d) from %d near-duplicate pairs and %d Tribuo k-means topics%n",
                    r.groups(), r.largestGroup(), r.nearDuplicatePairs(), r.topics());
            System.out.printf("closest train/eval pair: %.2f (character 5-gram Jaccard of their distinctive words)%n  train: %s%n  eval:  %s%n",
                    r.closestCrossSimilarity(), r.closestTrain(), r.closestEval());
            return 0;
        }
    }
}
