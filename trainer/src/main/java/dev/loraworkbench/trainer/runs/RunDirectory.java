package dev.loraworkbench.trainer.runs;

import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/** runs/&lt;name&gt;/: the resolved recipe, TensorBoard events, checkpoints and the final adapter. */
public record RunDirectory(Path dir) {
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

    /** Creates a fresh run directory; refuses to mix a new run into an existing one. */
    public static RunDirectory create(LoadedRecipe loaded) throws IOException {
        String name = loaded.recipe().output().name();
        if (name == null) {
            String base = loaded.file().getFileName().toString().replaceFirst("\\.ya?ml$", "");
            name = base + "-" + LocalDateTime.now().format(STAMP);
        }
        Path dir = loaded.runsDir().resolve(name);
        if (Files.exists(dir) && !AtomicFiles.isEmptyDirectory(dir)) {
            throw new IllegalStateException(dir + " already exists and is not empty; choose another output.name (or --set output.name=...) or remove it");
        }
        Files.createDirectories(dir);
        AtomicFiles.writeString(dir.resolve("recipe.yaml"), loaded.resolvedYaml());
        return new RunDirectory(dir);
    }

    /**
     * checkpoints/step-N/, written under a temporary name and renamed when complete, so a crash
     * never leaves a half-written directory that looks like a checkpoint.
     */
    public Path saveCheckpoint(int step, AtomicFiles.DirectoryContents contents) throws IOException {
        Path target = dir.resolve("checkpoints").resolve("step-" + step);
        AtomicFiles.publishDirectory(target, contents);
        return target;
    }
}
