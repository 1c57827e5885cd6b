package dev.loraworkbench.trainer.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** `workbench train RECIPE` in a child JVM (offline, this test's class path), for tests that kill or crash it. */
public final class ChildTraining {
    private ChildTraining() {}

    /** @param properties system properties such as "workbench.crash-test.halt-in-checkpoint=8" */
    public static Process start(Path recipe, Path log, String... properties) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-Dai.djl.offline=true"));
        for (String p : properties) cmd.add("-D" + p);
        cmd.addAll(List.of("dev.loraworkbench.trainer.cli.WorkbenchCli", "train", recipe.toString()));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }
}
