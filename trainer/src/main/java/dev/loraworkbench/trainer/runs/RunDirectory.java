package dev.loraworkbench.trainer.runs;

import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Comparator;
import java.util.stream.Stream;

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
        if (Files.exists(dir) && !isEmpty(dir)) {
            throw new IllegalStateException(dir + " already exists and is not empty; choose another output.name (or --set output.name=...) or remove it");
        }
        Files.createDirectories(dir);
        AtomicFiles.writeString(dir.resolve("recipe.yaml"), loaded.resolvedYaml());
        return new RunDirectory(dir);
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    /** What a checkpoint writes into its (temporary) directory. */
    @FunctionalInterface
    public interface Contents {
        void writeTo(Path dir) throws IOException;
    }

    /**
     * checkpoints/step-N/, written under a temporary name and renamed when complete, so a crash
     * never leaves a half-written directory that looks like a checkpoint.
     */
    public Path saveCheckpoint(int step, Contents contents) throws IOException {
        Path root = dir.resolve("checkpoints");
        Files.createDirectories(root);
        Path tmp = Files.createTempDirectory(root, ".tmp-step-" + step + "-");
        Path target = root.resolve("step-" + step);
        try {
            contents.writeTo(tmp);
            deleteTree(target);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target);
            }
        } finally {
            deleteTree(tmp);
        }
        return target;
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
