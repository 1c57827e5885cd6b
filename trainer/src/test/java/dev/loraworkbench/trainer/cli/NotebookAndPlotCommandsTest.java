package dev.loraworkbench.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.events.EventWriter;
import dev.loraworkbench.trainer.runs.RunPlot;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NotebookAndPlotCommandsTest {
    @TempDir Path dir;

    private static int run(ByteArrayOutputStream err, String... args) {
        PrintStream old = System.err;
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            return WorkbenchCli.run(args);
        } finally {
            System.setErr(old);
        }
    }

    @Test
    void runsPlotWritesAPng() throws Exception {
        Path run = dir.resolve("demo");
        try (EventWriter w = EventWriter.create(run)) {
            for (int step = 1; step <= 5; step++) w.scalar("train/loss", step, 2.0 / step);
        }
        Path png = dir.resolve("curves.png");
        assertEquals(0, run(new ByteArrayOutputStream(), "runs", "plot", run.toString(), "--out", png.toString()));
        assertEquals(RunPlot.PANEL_WIDTH, ImageIO.read(png.toFile()).getWidth());

        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(WorkbenchCli.USER_ERROR, run(err, "runs", "plot", run.toString(), "--out", png.toString(), "--tags", "eval/loss"));
        assertEquals("error: no run has the tag eval/loss; tags present: train/loss\n", err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void kernelSpecRunsJavaWithTheBuiltJarsOffline() throws Exception {
        for (String p : List.of("notebook-kernel/target/lib", "trainer/target/lib")) Files.createDirectories(dir.resolve(p));
        for (String p : List.of("notebook-kernel/target/workbench-kernel.jar", "trainer/target/workbench.jar")) Files.writeString(dir.resolve(p), "");
        Map<String, Object> spec = NotebookCommand.InstallKernel.kernelSpec(dir);
        assertEquals("LoRA Workbench (Java)", spec.get("display_name"));
        List<?> argv = (List<?>) spec.get("argv");
        // bash sources the GPU set-up (.workbench/engine.env) if present, then execs java offline with the jars
        assertEquals(List.of("/bin/bash", "-c"), argv.subList(0, 2));
        assertTrue(argv.get(2).toString().contains("-Dai.djl.offline=true") && argv.get(2).toString().contains("WORKBENCH_JAVA_OPTS"), argv.toString());
        assertEquals("{connection_file}", argv.get(3));
        assertEquals(dir.resolve(".workbench/engine.env").toString(), argv.get(4));
        assertTrue(Path.of(argv.get(5).toString()).isAbsolute(), "java by absolute path");
        assertEquals(dir + "/notebook-kernel/target/workbench-kernel.jar:" + dir + "/notebook-kernel/target/lib/*:"
                + dir + "/trainer/target/workbench.jar:" + dir + "/trainer/target/lib/*", argv.get(7));
        assertEquals(NotebookCommand.KERNEL_MAIN, argv.get(8));
        assertEquals(dir.resolve("trainer/scripts/malloc.env").toString(), argv.get(9));

        // the start line, run with env in java's place: the kernel's JVM gets the malloc settings ./workbench gives the CLI
        Files.createDirectories(dir.resolve("trainer/scripts"));
        Files.copy(Path.of("scripts/malloc.env"), dir.resolve("trainer/scripts/malloc.env"));
        Path fakeJava = Files.writeString(dir.resolve("java"), "#!/bin/sh\nenv\n");
        assertTrue(fakeJava.toFile().setExecutable(true));
        List<String> command = new java.util.ArrayList<>(argv.stream().map(Object::toString).toList());
        command.set(5, fakeJava.toString());
        ProcessBuilder start = new ProcessBuilder(command).redirectErrorStream(true);
        start.environment().keySet().removeIf(name -> name.startsWith("MALLOC_")); // as Jupyter's environment would be
        Process env = start.start();
        String printed = new String(env.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, env.waitFor(), printed);
        assertTrue(printed.contains("MALLOC_ARENA_MAX=1") && printed.contains("MALLOC_MMAP_THRESHOLD_=33554432")
                && printed.contains("MALLOC_TRIM_THRESHOLD_=1073741824"), printed);

        Files.delete(dir.resolve("notebook-kernel/target/workbench-kernel.jar"));
        var e = assertThrows(WorkbenchCli.UserInputException.class, () -> NotebookCommand.InstallKernel.kernelSpec(dir));
        assertTrue(e.getMessage().contains("workbench-kernel.jar is missing: build first"), e.getMessage());
    }
}
