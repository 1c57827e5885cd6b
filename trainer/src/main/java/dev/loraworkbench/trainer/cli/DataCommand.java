package dev.loraworkbench.trainer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.DatasetWriter;
import dev.loraworkbench.datasets.Example;
import dev.loraworkbench.datasets.LeakageAwareSplit;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "data", mixinStandardHelpOptions = true, description = "Work with Q&A datasets.", subcommands = DataCommand.Split.class)
final class DataCommand {

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
