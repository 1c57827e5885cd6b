package dev.loraworkbench.kernel;

import dev.loraworkbench.trainer.cli.WorkbenchCli;
import dev.loraworkbench.trainer.runs.RunPlot;
import dev.loraworkbench.trainer.runs.RunTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import org.dflib.jjava.jupyter.kernel.BaseNotebookStatics;

/** What notebook cells call (statically imported by the kernel): the workbench's commands, tables and plots. */
public final class Notebook {
    private Notebook() {}

    /** The workbench checkout: -Dworkbench.home from kernel.json, else the first folder upwards with the ./workbench launcher. */
    public static Path home() {
        String prop = System.getProperty("workbench.home");
        if (prop != null) return Path.of(prop).toAbsolutePath().normalize();
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("workbench")) && Files.isDirectory(p.resolve("recipes"))) return p;
        }
        throw new IllegalStateException("cannot find the workbench checkout: start the kernel installed by ./workbench notebook install-kernel");
    }

    /** Where notebooks put their runs: $WORKBENCH_RUNS_DIR (the notebook test sets a temporary one), else runs/ of the checkout. */
    public static Path runsDir() {
        String env = System.getenv("WORKBENCH_RUNS_DIR");
        return env != null && !env.isBlank() ? Path.of(env).toAbsolutePath() : home().resolve("runs");
    }

    /**
     * Runs a workbench command in this JVM, as ./workbench would: cli("train", recipe, "--set", "lora.r=8").
     * Arguments may be strings, paths, numbers or lists of them. A non-zero exit fails the cell.
     */
    public static void cli(Object... args) {
        String[] argv = argv(args);
        int code = WorkbenchCli.run(argv);
        if (code != 0) throw new CommandFailed("workbench " + String.join(" ", argv) + " exited with " + code);
    }

    /** The runs in {@code runsDir} as `runs list` shows them, one row per run. */
    public static Table runs(Path runsDir) throws IOException {
        return table(RunTable.list(runsDir));
    }

    /** Runs side by side as `runs compare` shows them: the recipe fields that differ, then the key metrics. */
    public static Table compare(Path... runs) throws IOException {
        return table(RunTable.compare(Arrays.asList(runs)));
    }

    private static Table table(RunTable t) {
        return new Table(t.header(), t.rows());
    }

    /** Curves of runs, one panel per default tag (loss, grad-norm, learning rate, token accuracy, eval loss). */
    public static RunPlot plot(Path... runs) throws IOException {
        return RunPlot.of(Arrays.asList(runs), List.of());
    }

    /** Curves of runs for the given tags, e.g. plot(List.of(a, b), "train/loss", "eval/loss"). */
    public static RunPlot plot(List<Path> runs, String... tags) throws IOException {
        return RunPlot.of(runs, Arrays.asList(tags));
    }

    /** Shows a chart, table or any value now, e.g. inside an if block (a cell's last expression shows by itself). */
    public static void display(Object value) {
        BaseNotebookStatics.display(value);
    }

    static String[] argv(Object[] args, String... extra) {
        List<String> out = new ArrayList<>();
        for (Object a : args) flatten(a, out);
        out.addAll(List.of(extra));
        return out.toArray(new String[0]);
    }

    private static void flatten(Object a, List<String> out) {
        if (a instanceof Collection<?> c) c.forEach(x -> flatten(x, out));
        else if (a instanceof Object[] array) Arrays.stream(array).forEach(x -> flatten(x, out));
        else out.add(String.valueOf(a));
    }

    /** A workbench command ended with a non-zero exit code; its own message is already in the cell's output. */
    public static final class CommandFailed extends RuntimeException {
        CommandFailed(String message) { super(message); }
    }
}
