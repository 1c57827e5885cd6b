package dev.loraworkbench.trainer.runs;

import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * runs/&lt;name&gt;/: the resolved recipe, TensorBoard events, checkpoints/step-N/ and the final adapter.
 * A checkpoint directory only ever appears complete (built under a temporary name, then renamed).
 */
public record RunDirectory(Path dir) {
    public static final String RECIPE = "recipe.yaml";
    /** Optimizer state file inside a checkpoint directory. */
    public static final String OPTIMIZER = "optimizer.safetensors";
    /** A full-parameter run's weights inside a checkpoint (a Hugging Face checkpoint directory), and its final model/ directory. */
    public static final String MODEL_WEIGHTS = "model.safetensors";
    public static final String MODEL_DIR = "model";

    /** A checkpoint's trained weights are there: an adapter, or a full-parameter run's model. */
    public static boolean hasWeights(Path dir) {
        return Files.isRegularFile(dir.resolve(PeftFormat.WEIGHTS)) || Files.isRegularFile(dir.resolve(MODEL_WEIGHTS));
    }

    /** A full-parameter run: it leaves a model (model/), not an adapter. */
    public static boolean trainedFullModel(Path runDir) {
        return Files.isRegularFile(runDir.resolve(MODEL_DIR).resolve(MODEL_WEIGHTS))
                || recipeOf(runDir).map(r -> r.recipe().training().method() == dev.loraworkbench.trainer.recipe.Recipe.Method.FULL).orElse(false);
    }
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");

    /** Fails with a clear message when a new run would land in an existing, non-empty directory (its lock file aside). */
    public static void checkFree(Path dir) throws IOException {
        if (Files.exists(dir) && !isEmptyButForTheLock(dir)) {
            throw new RunException(dir + " already exists and is not empty; resume it with ./workbench resume " + dir
                    + ", or choose another output.name (--set output.name=...)");
        }
    }

    private static boolean isEmptyButForTheLock(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return false;
        try (Stream<Path> s = Files.list(dir)) {
            return s.allMatch(p -> p.getFileName().toString().equals(LOCK));
        }
    }

    /** Lock file of a run directory: held (an OS lock, so even kill -9 releases it) by the one process training the run. */
    public static final String LOCK = ".lock";

    /** This process's hold on a run directory for the length of a run or resume. */
    public static final class Lease implements AutoCloseable {
        private final java.nio.channels.FileChannel channel;

        private Lease(java.nio.channels.FileChannel channel) { this.channel = channel; }

        @Override
        public void close() throws IOException { channel.close(); }
    }

    /**
     * Takes the run directory (created if missing) for this process, or fails clearly when another process holds it:
     * two trainings started together with one output.name no longer share a directory.
     */
    public static Lease lease(Path dir) throws IOException {
        Files.createDirectories(dir);
        var channel = java.nio.channels.FileChannel.open(dir.resolve(LOCK), java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
        java.nio.channels.FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (java.nio.channels.OverlappingFileLockException e) {
            lock = null; // held by this same JVM (a notebook, a test)
        }
        if (lock == null) {
            channel.close();
            throw new RunException(dir + " is being trained right now by another process; wait for it, stop it, or choose another output.name");
        }
        return new Lease(channel);
    }

    /** Deletes {@code dir} if it holds nothing but its lock file (a run whose set-up failed before it wrote anything). */
    public static void removeIfUnused(Path dir) throws IOException {
        if (isEmptyButForTheLock(dir)) AtomicFiles.deleteTree(dir);
    }

    /**
     * Clears what a run that never reached its first checkpoint left (events, best/, run.json, half-written checkpoint
     * directories) so it can start over at step 0 in the same directory; keeps recipe.yaml and the lock.
     */
    public void clearForRestart() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String name = p.getFileName().toString();
                if (name.equals(RECIPE) || name.equals(LOCK)) continue;
                if (name.startsWith("events.out.tfevents") || name.equals(BEST) || name.equals("checkpoints") || name.equals(RunStatus.FILE)
                        || name.startsWith(".")) AtomicFiles.deleteTree(p);
            }
        }
    }

    /** Creates a fresh run directory; refuses to mix a new run into an existing one. */
    public static RunDirectory create(Path dir, LoadedRecipe loaded) throws IOException {
        checkFree(dir);
        Files.createDirectories(dir);
        AtomicFiles.writeString(dir.resolve(RECIPE), loaded.resolvedYaml());
        return new RunDirectory(dir);
    }

    /** The recipe a run (runs/&lt;name&gt;) or one of its checkpoints was trained with, if {@code dir} is one. */
    public static Optional<LoadedRecipe> recipeOf(Path dir) {
        Path recipe = dir.resolve(RECIPE);
        return Files.isRegularFile(recipe) ? Optional.of(RecipeLoader.load(recipe, List.of())) : Optional.empty();
    }

    /** Where a recipe's run goes: runs_dir/name, or runs_dir/&lt;recipe file name&gt;-&lt;time&gt; without a name. */
    public static Path dirFor(LoadedRecipe loaded) {
        String name = loaded.recipe().output().name();
        if (name == null) {
            String base = loaded.file().getFileName().toString().replaceFirst("\\.ya?ml$", "");
            name = base + "-" + LocalDateTime.now().format(STAMP);
        }
        return loaded.runsDir().resolve(name);
    }

    public Path checkpointsDir() { return dir.resolve("checkpoints"); }

    /** runs/&lt;name&gt;/best/: the adapter of the best evaluation so far, never rotated out, with best.json saying which it is. */
    public static final String BEST = "best";
    private static final String BEST_JSON = "best.json";
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    public Path bestDir() { return dir.resolve(BEST); }

    /** Replaces best/ with {@code adapter}'s files and best.json, atomically. */
    public void saveBest(BestSoFar best, AtomicFiles.DirectoryContents adapter) throws IOException {
        AtomicFiles.publishDirectory(bestDir(), d -> {
            adapter.writeTo(d);
            AtomicFiles.writeString(d.resolve(BEST_JSON), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(best));
        });
    }

    /** The adapter an export of a run takes, and a line saying which it is. */
    public record AdapterChoice(Path dir, String note) {}

    /**
     * A run's best adapter (best/) unless {@code last} or it has none; with {@code last}, the newest checkpoint (the
     * last step's adapter, whichever one the run left as its final). A checkpoint or adapter directory is taken as it is.
     */
    public static AdapterChoice adapterToExport(Path dir, boolean last) throws IOException {
        Optional<BestSoFar> best = readBest(dir);
        if (!last && best.isPresent()) {
            return new AdapterChoice(dir.resolve(BEST), "taking the run's best adapter: " + best.get().describe() + " (--last for the last step's)");
        }
        if (last) {
            // only looks: latestCheckpoint would also delete the half-written checkpoint of a training still running
            Optional<Path> newest = new RunDirectory(dir).checkpoints(p -> Files.isRegularFile(p.resolve(PeftFormat.WEIGHTS))).stream().findFirst();
            if (newest.isPresent()) return new AdapterChoice(newest.get(), "taking the last step's adapter: " + newest.get().getFileName());
        }
        return new AdapterChoice(dir, null);
    }

    /** What best/ holds, if the run has one. */
    public static Optional<BestSoFar> readBest(Path runDir) {
        Path file = runDir.resolve(BEST).resolve(BEST_JSON);
        if (!Files.isRegularFile(file)) return Optional.empty();
        try {
            return Optional.of(JSON.readValue(file.toFile(), BestSoFar.class));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Writes checkpoints/step-N atomically, then keeps only the newest {@code keep} checkpoints. */
    public Path saveCheckpoint(int step, int keep, AtomicFiles.DirectoryContents contents) throws IOException {
        Path target = checkpointsDir().resolve("step-" + step);
        AtomicFiles.publishDirectory(target, contents);
        List<Path> all = checkpoints(p -> true);
        for (int i = keep; i < all.size(); i++) AtomicFiles.deleteTree(all.get(i));
        return target;
    }

    /**
     * What a kill -9 can leave, cleared by the next process to hold the lease (nobody else writes here then): temporary
     * files and directories of interrupted atomic writes (".run.json123.tmp", ".step-8.tmp-..."), and a checkpoint over
     * {@code keep} when the kill came between publishing a checkpoint and rotating the oldest out.
     *
     * @return what was removed, for one line of the log
     */
    public List<String> tidyAfterCrash(int keep) throws IOException {
        List<String> removed = new java.util.ArrayList<>();
        for (Path parent : new Path[] {dir, checkpointsDir()}) {
            if (!Files.isDirectory(parent)) continue;
            try (Stream<Path> s = Files.list(parent)) {
                for (Path p : s.toList()) {
                    String name = p.getFileName().toString();
                    if (name.startsWith(".") && name.contains(".tmp") && !name.equals(LOCK)) {
                        AtomicFiles.deleteTree(p);
                        removed.add(dir.relativize(p).toString());
                    }
                }
            }
        }
        List<Path> all = checkpoints(p -> true);
        for (int i = keep; i < all.size(); i++) {
            AtomicFiles.deleteTree(all.get(i));
            removed.add(dir.relativize(all.get(i)).toString());
        }
        return removed;
    }

    /**
     * The newest checkpoint that {@code valid} accepts, asking newest first and stopping at the first yes (a check may
     * hash gigabytes); leftovers of interrupted writes are removed on the way.
     */
    public Optional<Path> latestCheckpoint(Predicate<Path> valid) throws IOException {
        if (!Files.isDirectory(checkpointsDir())) return Optional.empty();
        try (Stream<Path> s = Files.list(checkpointsDir())) {
            for (Path leftover : s.filter(p -> p.getFileName().toString().startsWith(".")).toList()) AtomicFiles.deleteTree(leftover);
        }
        return checkpoints(p -> true).stream().filter(valid).findFirst();
    }

    /** step-N directories, newest first. */
    private List<Path> checkpoints(Predicate<Path> valid) throws IOException {
        if (!Files.isDirectory(checkpointsDir())) return List.of();
        try (Stream<Path> s = Files.list(checkpointsDir())) {
            return s.filter(p -> STEP_DIR.matcher(p.getFileName().toString()).matches() && Files.isDirectory(p))
                    .filter(valid)
                    .sorted(Comparator.comparingInt(RunDirectory::stepOf).reversed())
                    .toList();
        }
    }

    public static int stepOf(Path checkpoint) {
        Matcher m = STEP_DIR.matcher(checkpoint.getFileName().toString());
        if (!m.matches()) throw new IllegalArgumentException(checkpoint + " is not a step-N checkpoint directory");
        return Integer.parseInt(m.group(1));
    }
}
