package dev.loraworkbench.kernel;

import dev.loraworkbench.trainer.runs.RunPlot;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import jdk.jshell.Diag;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.UnresolvedReferenceException;
import org.dflib.jjava.jupyter.kernel.BaseKernel;
import org.dflib.jjava.jupyter.kernel.BaseKernelBuilder;
import org.dflib.jjava.jupyter.kernel.JupyterIO;
import org.dflib.jjava.jupyter.kernel.LanguageInfo;
import org.dflib.jjava.jupyter.kernel.ReplacementOptions;
import org.dflib.jjava.jupyter.kernel.comm.CommManager;
import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.Renderer;
import org.dflib.jjava.jupyter.kernel.history.HistoryManager;
import org.dflib.jjava.jupyter.kernel.display.common.Image;
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType;
import org.dflib.jjava.jupyter.kernel.magic.MagicParser;
import org.dflib.jjava.jupyter.kernel.magic.MagicsRegistry;
import org.dflib.jjava.jupyter.kernel.util.StringStyler;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.internal.chartpart.Chart;

/**
 * The "LoRA Workbench (Java)" kernel: Jupyter's protocol from jjava-jupyter, cells evaluated by JShell in this JVM
 * with the workbench on the class path. Charts ({@link RunPlot}, any XChart chart) display as PNG and
 * {@link Table}s as HTML.
 */
public final class WorkbenchKernel extends BaseKernel {
    /** What every notebook starts with, so cells can say cli(...), plot(...), Path.of(...) without imports. */
    static final List<String> STARTUP = List.of(
            "import java.nio.file.*;",
            "import java.util.*;",
            "import dev.loraworkbench.trainer.cli.WorkbenchCli;",
            "import dev.loraworkbench.trainer.runs.RunPlot;",
            "import static dev.loraworkbench.kernel.Notebook.*;");

    private final JShell shell;
    private final CellExecution execution;

    private WorkbenchKernel(String name, String version, HistoryManager history, JupyterIO io, CommManager comms, Renderer renderer,
            MagicParser magicParser, MagicsRegistry magics, StringStyler errorStyler) {
        super(name, version, languageInfo(), List.of(), history, io, comms, renderer, magicParser, magics, false, errorStyler);
        this.execution = new CellExecution();
        this.shell = JShell.builder().executionEngine(execution.provider(), Map.of()).build();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) shell.addToClasspath(entry);
        renderer.createRegistration(RunPlot.class).preferring(MIMEType.IMAGE_PNG).register((plot, ctx) -> Image.renderImage(plot.image(), ctx));
        renderer.createRegistration(Chart.class).preferring(MIMEType.IMAGE_PNG)
                .register((chart, ctx) -> Image.renderImage(BitmapEncoder.getBufferedImage(chart), ctx));
        for (String line : STARTUP) evalRaw(line);
    }

    private static LanguageInfo languageInfo() {
        return new LanguageInfo("Java", Runtime.version().toString(), "text/x-java-source", ".jshell", "java", "java", null);
    }

    @Override
    public String getBanner() {
        return "LoRA Workbench (Java) — JShell " + Runtime.version() + " with the workbench on the class path";
    }

    /** Runs a cell snippet by snippet; the value of the last one is the cell's result. */
    @Override
    public Object evalRaw(String code) {
        SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
        Object last = null;
        SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(code);
        while (info.completeness().isComplete()) {
            last = evalSnippet(info.source());
            info = analysis.analyzeCompletion(info.remaining());
        }
        if (info.completeness() != SourceCodeAnalysis.Completeness.EMPTY) {
            throw new CellError(List.of("incomplete code at the end of the cell: " + info.remaining().trim()));
        }
        return last;
    }

    private Object evalSnippet(String source) {
        List<SnippetEvent> events = shell.eval(source);
        Object value = execution.takeValue();
        for (SnippetEvent e : events) {
            if (e.causeSnippet() != null) continue; // a dependent snippet updated: not this cell's doing
            if (e.exception() != null) throw new CellError(describe(e.exception()));
            if (e.status() == Snippet.Status.REJECTED) throw new CellError(diagnostics(e.snippet()));
        }
        Snippet.SubKind kind = events.isEmpty() ? null : events.get(0).snippet().subKind();
        boolean hasValue = kind == Snippet.SubKind.VAR_VALUE_SUBKIND || kind == Snippet.SubKind.OTHER_EXPRESSION_SUBKIND
                || kind == Snippet.SubKind.TEMP_VAR_EXPRESSION_SUBKIND;
        return hasValue ? value : null;
    }

    /** The user's exception with its own stack, cut where the kernel's reflection call begins. */
    private static List<String> describe(JShellException e) {
        List<String> lines = new ArrayList<>();
        for (Throwable t = e; t != null; t = t.getCause()) {
            String name = t instanceof EvalException ee ? ee.getExceptionClassName() : t.getClass().getName();
            if (t instanceof UnresolvedReferenceException ure) {
                lines.add("error: " + ure.getSnippet().source().trim() + " refers to something not (yet) defined");
                break;
            }
            lines.add((t == e ? "" : "Caused by: ") + name + (t.getMessage() == null ? "" : ": " + t.getMessage()));
            for (StackTraceElement f : t.getStackTrace()) {
                if (f.getClassName().startsWith("jdk.internal.reflect.") || f.getClassName().startsWith("java.lang.reflect.")) break;
                lines.add("    at " + f);
            }
        }
        return lines;
    }

    private List<String> diagnostics(Snippet snippet) {
        List<String> lines = new ArrayList<>();
        String src = snippet.source();
        shell.diagnostics(snippet).filter(Diag::isError).forEach(d -> {
            lines.add("error: " + d.getMessage(Locale.ROOT));
            int pos = (int) Math.max(0, Math.min(d.getPosition(), src.length()));
            int lineStart = src.lastIndexOf('\n', pos - 1) + 1;
            int lineEnd = src.indexOf('\n', pos);
            lines.add("    " + src.substring(lineStart, lineEnd < 0 ? src.length() : lineEnd));
            lines.add("    " + " ".repeat(pos - lineStart) + "^");
        });
        if (lines.isEmpty()) lines.add("error: the snippet was rejected: " + src.trim());
        return lines;
    }

    @Override
    public List<String> formatError(Throwable e) {
        if (e instanceof CellError c) return c.lines();
        return super.formatError(e);
    }

    @Override
    public DisplayData inspect(String code, int at, boolean extraDetail) {
        var docs = shell.sourceCodeAnalysis().documentation(code, at, extraDetail);
        if (docs.isEmpty()) return null;
        return new DisplayData(docs.stream().map(d -> d.signature() + (d.javadoc() == null ? "" : "\n" + d.javadoc()))
                .collect(Collectors.joining("\n\n")));
    }

    @Override
    public ReplacementOptions complete(String code, int at) {
        int[] anchor = new int[1];
        var suggestions = shell.sourceCodeAnalysis().completionSuggestions(code, at, anchor);
        return new ReplacementOptions(suggestions.stream().map(SourceCodeAnalysis.Suggestion::continuation).distinct().toList(), anchor[0], at);
    }

    @Override
    public String isComplete(String code) {
        SourceCodeAnalysis.CompletionInfo info = shell.sourceCodeAnalysis().analyzeCompletion(code);
        while (info.completeness().isComplete() && !info.remaining().isBlank()) info = shell.sourceCodeAnalysis().analyzeCompletion(info.remaining());
        return switch (info.completeness()) {
            case COMPLETE, COMPLETE_WITH_SEMI, EMPTY -> IS_COMPLETE_YES;
            case UNKNOWN -> IS_COMPLETE_BAD;
            case CONSIDERED_INCOMPLETE, DEFINITELY_INCOMPLETE -> "    ";
        };
    }

    @Override
    public void interrupt() {
        execution.interrupt();
    }

    @Override
    public void onShutdown(boolean restart) {
        super.onShutdown(restart);
        shell.close();
    }

    /** A cell that failed: compile errors or the user's exception, already formatted for the notebook. */
    static final class CellError extends RuntimeException {
        private final List<String> lines;

        CellError(List<String> lines) {
            super(lines.isEmpty() ? "cell failed" : lines.get(0));
            this.lines = List.copyOf(lines);
        }

        List<String> lines() { return lines; }
    }

    /** jjava's builder supplies the protocol parts (I/O, comms, renderer, history); this kernel adds JShell. */
    public static final class Builder extends BaseKernelBuilder<Builder, WorkbenchKernel> {
        public Builder() {
            name("lora-workbench-java");
            version("0.1.0");
        }

        @Override
        public WorkbenchKernel build() {
            return new WorkbenchKernel(buildName(), buildVersion(), buildHistoryManager(), buildJupyterIO(buildJupyterIOEncoding()),
                    buildCommManager(), buildRenderer(), new MagicParser("(?<=(?:^|=))\\s*%", "%%", buildMagicTranspiler()),
                    buildMagicsRegistry(), buildErrorStyler());
        }
    }
}
