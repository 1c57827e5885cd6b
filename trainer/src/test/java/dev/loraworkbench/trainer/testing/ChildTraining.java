package dev.loraworkbench.trainer.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** `workbench train RECIPE` in a child JVM (offline, this test's class path), for tests that kill or crash it. */
public final class ChildTraining {
    private ChildTraining() {}

    /** @param properties system properties such as "workbench.crash-test.halt-in-checkpoint=8" */
    public static Process start(Path recipe, Path log, String... properties) throws IOException {
        return start(List.of("train", recipe.toString()), log, properties);
    }

    /** @param args the CLI's arguments, e.g. train RECIPE --resume */
    public static Process start(List<String> args, Path log, String... properties) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-Dai.djl.offline=true"));
        // the thread count a test pinned (see the root pom), so child runs repeat bit for bit too
        cmd.add("-Dworkbench.threads=" + System.getProperty("workbench.threads", "off"));
        for (String p : properties) cmd.add("-D" + p);
        cmd.add("dev.loraworkbench.trainer.cli.WorkbenchCli");
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /**
     * kill -9 (no shutdown hook, no final save) as soon as {@code appeared} exists, e.g. a checkpoint's trainer_state.json;
     * fails with the child's log if it never does within two minutes.
     */
    public static void killOnceWritten(Process child, Path appeared, Path log) throws Exception {
        long deadline = System.currentTimeMillis() + 120_000;
        while (!Files.exists(appeared) && child.isAlive() && System.currentTimeMillis() < deadline) Thread.sleep(20);
        assertTrue(Files.exists(appeared), appeared + " appeared: " + Files.readString(log));
        child.destroyForcibly();
        assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child was killed");
    }
}
