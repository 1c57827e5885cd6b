package dev.loraworkbench.trainer.runs;

import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeDiff;
import dev.loraworkbench.trainer.recipe.RecipeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Where a run continues: its newest complete checkpoint, admitted only if no process trains the run now, the
 * recipe is the checkpoint's (or changed with leave, never in model / LoRA / quantization) and the data did not change.
 *
 * @param changes the recipe fields that differ from the checkpoint's (allowed with --allow-recipe-change)
 * @param dataSha256 the data's hash now, for the checkpoints this session writes
 */
public record ResumePoint(Path checkpoint, TrainerState state, List<String> changes, String dataSha256, List<String> skipped) {

    /** Admits a resume of {@code runDir}, or throws a user error that says why not and what to do. */
    public static ResumePoint admit(LoadedRecipe loaded, Path runDir, boolean allowRecipeChange) throws IOException {
        RunDirectory run = new RunDirectory(runDir);
        if (!Files.isRegularFile(runDir.resolve(RunDirectory.RECIPE))) {
            throw new RunException(runDir + " is not a run directory (no " + RunDirectory.RECIPE + "); start one with ./workbench train RECIPE");
        }
        RunStatus.read(runDir).filter(st -> st.effectiveStatus() == RunStatus.Status.RUNNING).ifPresent(st -> {
            throw new RunException(runDir + " is being trained right now by process " + st.pid() + "; stop it first");
        });
        java.util.Map<Path, String> rejected = new java.util.LinkedHashMap<>();
        Optional<Path> latest = run.latestCheckpoint(p -> {
            if (!isComplete(p)) return false;
            Optional<String> damage = damage(p);
            damage.ifPresent(why -> rejected.put(p, why));
            return damage.isEmpty();
        });
        // the damaged checkpoints passed over (newest first, all newer than the one taken): said, not silently skipped
        List<String> skipped = rejected.entrySet().stream().map(e -> e.getKey().getFileName() + ": " + e.getValue()).toList();
        if (latest.isEmpty()) { // stopped before its first checkpoint: nothing to lose, start over at step 0
            List<String> changes = RecipeDiff.between(Files.readString(runDir.resolve(RunDirectory.RECIPE)), loaded.resolvedYaml());
            if (!changes.isEmpty() && !allowRecipeChange) {
                List<String> problems = new ArrayList<>();
                problems.add(loaded.file() + ": the recipe differs from the one " + runDir + " was started with:");
                changes.forEach(c -> problems.add("  " + c));
                problems.add("resume with the same recipe, or pass --allow-recipe-change");
                throw new RecipeException(problems);
            }
            AtomicFiles.writeString(runDir.resolve(RunDirectory.RECIPE), loaded.resolvedYaml());
            return new ResumePoint(null, null, changes, dataSha256(loaded), skipped);
        }
        Path checkpoint = latest.get();
        TrainerState state = TrainerState.read(checkpoint);
        List<String> changes = RecipeDiff.between(Files.readString(checkpoint.resolve(RunDirectory.RECIPE)), loaded.resolvedYaml());
        List<String> structural = changes.stream()
                .filter(c -> c.startsWith("model.") || c.startsWith("lora.") || c.startsWith("quantization.")).toList();
        if (!structural.isEmpty() || (!changes.isEmpty() && !allowRecipeChange)) {
            List<String> problems = new ArrayList<>();
            problems.add(loaded.file() + ": the recipe differs from the one " + checkpoint + " was trained with:");
            changes.forEach(c -> problems.add("  " + c));
            problems.add(structural.isEmpty() ? "resume with the same recipe, or pass --allow-recipe-change to continue anyway"
                    : "the model, LoRA and quantization sections cannot change within a run; start a new run instead");
            throw new RecipeException(problems);
        }
        String dataHash = dataSha256(loaded);
        if (state.datasetSha256() != null && !state.datasetSha256().equals(dataHash) && !allowRecipeChange) {
            throw new RecipeException(List.of(loaded.datasetPath() + ": the data changed since " + checkpoint
                    + " was written, so the split and the order would too; restore it, or pass --allow-recipe-change"));
        }
        if (!changes.isEmpty()) {
            // the run now follows the changed recipe: later resumes compare against it
            AtomicFiles.writeString(runDir.resolve(RunDirectory.RECIPE), loaded.resolvedYaml());
        }
        return new ResumePoint(checkpoint, state, changes, dataHash, skipped);
    }

    /** True when the run had no complete checkpoint: it starts over at step 0 in its directory. */
    public boolean fromScratch() {
        return checkpoint == null;
    }

    /** The log window the checkpoint saved; checkpoints from before the window was saved resume with an empty one. */
    public LogWindow window() {
        return state.logWindow() == null ? LogWindow.EMPTY : state.logWindow();
    }

    /**
     * The best evaluation so far and its patience count as the checkpoint saved them; checkpoints from before they were
     * saved, or a metric_for_best changed on resume (--allow-recipe-change), start over with none.
     */
    public BestSoFar best(LoadedRecipe loaded) {
        String metric = loaded.recipe().training().metricForBest();
        return state.best() != null && state.best().metric().equals(metric) ? state.best() : BestSoFar.none(metric);
    }

    /** Hash of the training (and eval) data files: part of what a checkpoint was trained on. */
    public static String dataSha256(LoadedRecipe loaded) {
        var sources = loaded.recipe().dataset().sourceList();
        StringBuilder all = new StringBuilder();
        for (var s : sources) {
            Path path = loaded.resolve(s.path());
            all.append(s.text() ? dev.loraworkbench.datasets.TextDocuments.sha256(
                    dev.loraworkbench.datasets.TextDocuments.read(path, s.excludeList(), s.maxFileBytes())) : DatasetReader.sha256(path));
        }
        // one source keeps the hash it always had, so runs from before sources existed still resume
        String train = sources.size() == 1 && !sources.get(0).text() ? all.toString() : RecipeDiff.sha256(all.toString());
        String evalPath = loaded.recipe().dataset().evalPath();
        return evalPath == null ? train : RecipeDiff.sha256(train + DatasetReader.sha256(loaded.resolve(evalPath)));
    }

    /** Files of a complete checkpoint that no longer match the hashes saved with them. */
    static Optional<String> damage(Path checkpoint) {
        try {
            return TrainerState.read(checkpoint).damage(checkpoint);
        } catch (RuntimeException e) {
            return Optional.empty(); // no readable state: isComplete says no anyway
        }
    }

    /** A checkpoint directory with its adapter, optimizer state and a trainer state that names its own step. */
    static boolean isComplete(Path checkpoint) {
        try {
            return RunDirectory.hasWeights(checkpoint) && Files.isRegularFile(checkpoint.resolve(RunDirectory.OPTIMIZER))
                    && TrainerState.read(checkpoint).globalStep() == RunDirectory.stepOf(checkpoint);
        } catch (RuntimeException e) {
            return false;
        }
    }
}
