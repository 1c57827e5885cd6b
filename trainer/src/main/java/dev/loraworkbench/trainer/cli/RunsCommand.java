package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.runs.RunPlot;
import dev.loraworkbench.trainer.runs.RunTable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "runs", mixinStandardHelpOptions = true, description = "List, compare and plot training runs.",
        subcommands = {RunsCommand.ListRuns.class, RunsCommand.Compare.class, RunsCommand.Plot.class})
final class RunsCommand {

    @Command(name = "list", mixinStandardHelpOptions = true, description = "One line per run: status, steps, losses, model, r, lr, start, duration.")
    static final class ListRuns implements Callable<Integer> {
        @Option(names = "--runs-dir", defaultValue = "runs", description = "default ${DEFAULT-VALUE}") Path runsDir;
        @Option(names = "--csv", description = "CSV instead of a table") boolean asCsv;

        @Override
        public Integer call() throws Exception {
            RunTable table = RunTable.list(runsDir);
            System.out.print(asCsv ? table.csv() : table.rows().isEmpty() ? "no runs in " + runsDir + "\n" : table.text());
            return 0;
        }
    }

    @Command(name = "compare", mixinStandardHelpOptions = true, description = "Recipe differences side by side, then the key metrics.")
    static final class Compare implements Callable<Integer> {
        @Parameters(arity = "2..*", paramLabel = "RUN_DIR") List<Path> runs;
        @Option(names = "--csv", description = "CSV instead of a table") boolean asCsv;

        @Override
        public Integer call() throws Exception {
            RunTable table = RunTable.compare(runs);
            System.out.print(asCsv ? table.csv() : table.text());
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
            WorkbenchCli.fileToWrite("--out", out, "curves.png");
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
