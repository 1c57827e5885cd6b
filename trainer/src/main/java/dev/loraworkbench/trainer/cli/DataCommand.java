package dev.loraworkbench.trainer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.loraworkbench.datasets.CsvColumns;
import dev.loraworkbench.datasets.DatasetCheck;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.DatasetStats;
import dev.loraworkbench.datasets.DatasetWriter;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.Example;
import dev.loraworkbench.datasets.ExampleEncoder;
import dev.loraworkbench.datasets.LeakageAwareSplit;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.model.TinyModels;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.train.TrainingData;
import java.nio.file.Files;
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
            DatasetCheck.Report report;
            List<Path> checked = new ArrayList<>();
            if (name.endsWith(".yaml") || name.endsWith(".yml")) {
                LoadedRecipe loaded = RecipeLoader.load(target, overrides);
                var d = loaded.recipe().dataset();
                CsvColumns columns = d.csvColumns();
                Path modelDir = loaded.modelDir();
                TokenizerFiles tokenizer = Files.isRegularFile(modelDir.resolve("tokenizer.json")) ? loaded.tokenizer(modelDir) : null;
                if (tokenizer == null) System.out.println("note: " + modelDir + " has no tokenizer yet; lengths after the chat template are not checked");
                try {
                    ExampleEncoder encoder = tokenizer == null ? null : d.encoder(tokenizer);
                    report = DatasetCheck.run(loaded.datasetPath(), d.format(), columns, d.system(), encoder);
                    checked.add(loaded.datasetPath());
                    if (d.evalPath() != null) {
                        DatasetCheck.Report eval = DatasetCheck.run(loaded.resolve(d.evalPath()), d.format(), columns, d.system(), encoder);
                        checked.add(loaded.resolve(d.evalPath()));
                        report = merge(report, eval);
                    }
                } finally {
                    if (tokenizer != null) tokenizer.close();
                }
            } else {
                report = DatasetCheck.run(target, DatasetFormat.AUTO, null, null, null);
                checked.add(target);
            }
            print("error", report.errors());
            print("warning", report.warnings());
            System.out.printf("%s: %d examples, %d error(s), %d warning(s); read as %s%n", checked.size() == 1 ? checked.get(0) : checked,
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

        private static DatasetCheck.Report merge(DatasetCheck.Report a, DatasetCheck.Report b) {
            List<String> errors = new ArrayList<>(a.errors());
            errors.addAll(b.errors());
            List<String> warnings = new ArrayList<>(a.warnings());
            warnings.addAll(b.warnings());
            java.util.Map<DatasetFormat, Integer> formats = new java.util.EnumMap<>(DatasetFormat.class);
            formats.putAll(a.formats());
            b.formats().forEach((f, n) -> formats.merge(f, n, Integer::sum));
            return new DatasetCheck.Report(a.examples() + b.examples(), errors, warnings, a.duplicates() + b.duplicates(),
                    a.truncated() + b.truncated(), a.dropped() + b.dropped(), formats);
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
            LoadedRecipe loaded = RecipeLoader.load(recipe, overrides);
            var d = loaded.recipe().dataset();
            Path modelDir = TinyModels.ensure(loaded.modelDir(), loaded.recipe().model().initPreset(), System.out);
            List<Example> examples = DatasetReader.read(loaded.datasetPath(), d.format(), d.csvColumns(), d.system());
            try (TokenizerFiles tokenizer = loaded.tokenizer(modelDir)) {
                DatasetStats s = DatasetStats.of(examples, d.encoder(tokenizer));
                System.out.printf("%s: %d examples, %d exact duplicates; %d truncated, %d dropped at max_seq_len %d (%s)%n",
                        loaded.datasetPath(), s.examples(), s.duplicates(), s.truncated(), s.dropped(), d.maxSeqLen(), d.truncation().name().toLowerCase(Locale.ROOT));
                System.out.println("tokens        min  median     p95     max    mean");
                for (var row : List.of(java.util.Map.entry("prompt", s.prompt()), java.util.Map.entry("completion", s.completion()),
                        java.util.Map.entry("total", s.total()))) {
                    var x = row.getValue();
                    System.out.printf("%-10s %6d %7d %7d %7d %7.1f%n", row.getKey(), x.min(), x.median(), x.p95(), x.max(), x.mean());
                }
                System.out.println("\ntotal tokens per example:");
                System.out.print(s.total().histogram(10, 40));
                System.out.printf("%ntokens per epoch: %,d (%,d trained completion tokens)%n", s.tokensPerEpoch(), s.trainedTokensPerEpoch());
            }
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
            if (!split.equals("train") && !split.equals("eval")) throw new WorkbenchCli.UserInputException("--split " + split + ": expected train or eval");
            LoadedRecipe loaded = RecipeLoader.load(recipe, overrides);
            Path modelDir = TinyModels.ensure(loaded.modelDir(), loaded.recipe().model().initPreset(), System.err);
            try (TokenizerFiles tokenizer = loaded.tokenizer(modelDir)) {
                TrainingData data = TrainingData.load(loaded, tokenizer); // the trainer's own code path
                List<EncodedExample> examples = split.equals("train") ? data.train() : data.eval();
                if (index != null && (index < 0 || index >= examples.size())) {
                    throw new WorkbenchCli.UserInputException("--index " + index + ": the " + split + " split has " + examples.size()
                            + " examples (0.." + (examples.size() - 1) + ")");
                }
                int from = index == null ? 0 : index;
                int to = index == null ? Math.min(n, examples.size()) : index + 1;
                boolean colour = !json && System.console() != null && !"dumb".equals(System.getenv("TERM"));
                ObjectMapper mapper = new ObjectMapper();
                for (int i = from; i < to; i++) {
                    EncodedExample e = examples.get(i);
                    if (json) {
                        ObjectNode o = mapper.createObjectNode().put("index", i).put("text", tokenizer.decode(e.ids()));
                        var ids = o.putArray("ids");
                        for (int id : e.ids()) ids.add(id);
                        var labels = o.putArray("labels");
                        for (int l : e.labels()) labels.add(l);
                        System.out.println(mapper.writeValueAsString(o));
                    } else {
                        System.out.println("--- " + split + " example " + i + (colour ? " (trained tokens in green)" : " (trained tokens in [[...]])") + " ---");
                        System.out.println(marked(tokenizer, e, colour));
                        System.out.printf("tokens: %d, trained: %d, truncated: %s%n", e.ids().length, e.trainedTokens(), e.truncated() ? "yes" : "no");
                    }
                }
            }
            return 0;
        }

        /** The rendered text, trained spans wrapped in [[ ]] or coloured; spans are decoded whole so multi-byte characters survive. */
        static String marked(TokenizerFiles tokenizer, EncodedExample e, boolean colour) {
            StringBuilder sb = new StringBuilder();
            int start = 0;
            for (int t = 1; t <= e.ids().length; t++) {
                boolean trained = e.labels()[start] != EncodedExample.IGNORE;
                if (t < e.ids().length && (e.labels()[t] != EncodedExample.IGNORE) == trained) continue;
                String text = tokenizer.decode(java.util.Arrays.copyOfRange(e.ids(), start, t));
                if (!trained) sb.append(text);
                else sb.append(colour ? "\u001b[32m" : "[[").append(text).append(colour ? "\u001b[0m" : "]]");
                start = t;
            }
            return sb.toString();
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
            DatasetWriter.writeJsonl(out.resolve("train.jsonl"), r.train());
            DatasetWriter.writeJsonl(out.resolve("eval.jsonl"), r.eval());
            ObjectMapper json = new ObjectMapper();
            ObjectNode report = json.createObjectNode();
            report.put("input", in.toString()).put("examples", all.size()).put("train", r.train().size()).put("eval", r.eval().size())
                    .put("seed", seed).put("groups", r.groups()).put("largest_group", r.largestGroup())
                    .put("near_duplicate_pairs", r.nearDuplicatePairs()).put("topics", r.topics())
                    .put("closest_train_eval_similarity", r.closestCrossSimilarity())
                    .put("closest_train_question", r.closestTrain()).put("closest_eval_question", r.closestEval());
            Files.writeString(out.resolve("split-report.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(report));
            System.out.printf("%d examples -> %d train / %d eval in %s%n", all.size(), r.train().size(), r.eval().size(), out);
            System.out.printf("%d groups (largest %d) from %d near-duplicate pairs and %d Tribuo k-means topics%n",
                    r.groups(), r.largestGroup(), r.nearDuplicatePairs(), r.topics());
            System.out.printf("closest train/eval pair: %.2f (character 5-gram Jaccard)%n  train: %s%n  eval:  %s%n",
                    r.closestCrossSimilarity(), r.closestTrain(), r.closestEval());
            return 0;
        }
    }
}
