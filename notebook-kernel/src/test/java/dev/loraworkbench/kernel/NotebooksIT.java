package dev.loraworkbench.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.loraworkbench.trainer.cli.WorkbenchCli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Executes every notebook in notebooks/ top to bottom with Debian's Jupyter and our kernel, as a reader would, and
 * fails on any cell error. Runs in the integration-test phase (failsafe), after package has built the jars that
 * kernel.json points at. The kernel spec, Jupyter's own state and the notebooks' runs all go to a temporary folder.
 */
class NotebooksIT {
    static final Path JUPYTER = Path.of("/usr/bin/jupyter"); // pyenv's python may come first on PATH and lack Jupyter
    static final long NOTEBOOK_TIMEOUT_S = 1200;
    // notebook 01 trains the whole quickstart in one cell: ~2 min alone on 2 cores, but 5+ min on a machine shared with another
    // training (libtorch's threads then fight); a stuck cell still fails with nbconvert's own message before the notebook's limit
    static final long CELL_TIMEOUT_S = 900;
    static final String NO_JUPYTER = "SKIPPED: no Jupyter at /usr/bin/jupyter, so the notebooks were not executed; install it with "
            + "apt-get install jupyter-notebook python3-nbconvert python3-ipykernel jupyter-client jupyter-nbconvert (.ci/run does)";

    final Path home = Path.of(System.getProperty("workbench.home", "..")).toAbsolutePath().normalize();
    @TempDir Path tmp;

    @TestFactory
    Stream<DynamicTest> everyNotebookRunsWithoutACellError() throws Exception {
        if (!Files.isExecutable(JUPYTER) || run(List.of(JUPYTER.toString(), "nbconvert", "--version"), Map.of(), 60) != 0) {
            System.out.println(NO_JUPYTER);
            return Stream.of(DynamicTest.dynamicTest("notebooks", () -> Assumptions.abort(NO_JUPYTER)));
        }
        installKernel();
        List<Path> notebooks;
        try (Stream<Path> s = Files.list(home.resolve("notebooks"))) {
            notebooks = s.filter(p -> p.toString().endsWith(".ipynb")).sorted().toList();
        }
        assertEquals(3, notebooks.size(), notebooks.toString());
        return notebooks.stream().map(nb -> DynamicTest.dynamicTest(nb.getFileName().toString(), () -> execute(nb)));
    }

    private void installKernel() {
        assertEquals(0, WorkbenchCli.run("notebook", "install-kernel", "--prefix", tmp.resolve("prefix").toString(),
                "--workbench-home", home.toString()));
        assertTrue(Files.isRegularFile(tmp.resolve("prefix/share/jupyter/kernels/lora-workbench-java/kernel.json")));
    }

    private void execute(Path notebook) throws Exception {
        ObjectMapper json = new ObjectMapper();
        for (JsonNode cell : json.readTree(notebook.toFile()).get("cells")) {
            assertTrue(cell.path("outputs").isMissingNode() || cell.get("outputs").isEmpty(), notebook + " is stored with outputs: clear them");
            assertTrue(cell.path("execution_count").isMissingNode() || cell.get("execution_count").isNull(), notebook + " has execution counts");
        }
        Path out = tmp.resolve("out");
        Map<String, String> env = Map.of(
                "JUPYTER_PATH", tmp.resolve("prefix/share/jupyter").toString(),
                "JUPYTER_DATA_DIR", tmp.resolve("data").toString(),
                "JUPYTER_CONFIG_DIR", tmp.resolve("config").toString(),
                "JUPYTER_RUNTIME_DIR", tmp.resolve("runtime").toString(),
                "WORKBENCH_RUNS_DIR", tmp.resolve("runs").toString(),
                "PYDEVD_DISABLE_FILE_VALIDATION", "1");
        long start = System.nanoTime();
        int code = run(List.of(JUPYTER.toString(), "nbconvert", "--to", "notebook", "--execute",
                "--ExecutePreprocessor.kernel_name=lora-workbench-java", "--ExecutePreprocessor.timeout=" + CELL_TIMEOUT_S,
                "--output-dir", out.toString(), notebook.toString()), env, NOTEBOOK_TIMEOUT_S + 60);
        double seconds = (System.nanoTime() - start) / 1e9;
        String log = Files.readString(tmp.resolve("nbconvert.log"));
        assertEquals(0, code, notebook.getFileName() + " failed:\n" + tail(log, 6000));
        System.out.printf("notebook %s executed in %.1f s%n", notebook.getFileName(), seconds);

        List<String> kinds = new ArrayList<>();
        for (JsonNode cell : json.readTree(out.resolve(notebook.getFileName()).toFile()).get("cells")) {
            for (JsonNode o : cell.path("outputs")) {
                assertTrue(!o.path("output_type").asText().equals("error"), notebook.getFileName() + ": " + o);
                o.path("data").fieldNames().forEachRemaining(kinds::add);
            }
        }
        String name = notebook.getFileName().toString();
        if (name.startsWith("01") || name.startsWith("03")) {
            assertTrue(kinds.contains("image/png"), name + ": a plot shows as a PNG, not as text: " + kinds);
            assertTrue(kinds.contains("text/html"), name + ": a table shows as HTML: " + kinds);
        }
    }

    /** Runs a command with extra environment; output (both streams) goes to nbconvert.log in the temp folder. */
    private int run(List<String> cmd, Map<String, String> env, long timeoutSeconds) throws Exception {
        Path log = tmp.resolve("nbconvert.log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + ": no result after " + timeoutSeconds + " s\n" + tail(Files.readString(log), 6000));
        }
        return p.exitValue();
    }

    private static String tail(String s, int n) {
        return s.length() <= n ? s : "..." + s.substring(s.length() - n);
    }
}
