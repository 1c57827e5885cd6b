package dev.loraworkbench.trainer.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunDirectoryTest {
    @TempDir Path dir;

    /** A kill -9 between publishing checkpoint 5 and rotating checkpoint 1 out, and mid-way through writing run.json. */
    @Test
    void theNextProcessClearsTemporaryFilesAndTheCheckpointOverKeep() throws Exception {
        Path checkpoints = Files.createDirectories(dir.resolve("checkpoints"));
        for (int step = 1; step <= 5; step++) Files.writeString(Files.createDirectories(checkpoints.resolve("step-" + step)).resolve("x"), "");
        Files.createDirectories(checkpoints.resolve(".step-6.tmp-123"));
        Files.createFile(dir.resolve(".run.json4711.tmp"));
        Files.createFile(dir.resolve(RunDirectory.LOCK));
        Files.writeString(dir.resolve(RunStatus.FILE), "{}");
        List<String> removed = new RunDirectory(dir).tidyAfterCrash(4);
        assertEquals(List.of(".run.json4711.tmp", "checkpoints/.step-6.tmp-123", "checkpoints/step-1"), removed.stream().sorted().toList());
        try (Stream<Path> s = Files.list(checkpoints)) {
            assertEquals(List.of("step-2", "step-3", "step-4", "step-5"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(".lock", "checkpoints", "run.json"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals(List.of(), new RunDirectory(dir).tidyAfterCrash(4), "nothing more the second time");
    }
}
