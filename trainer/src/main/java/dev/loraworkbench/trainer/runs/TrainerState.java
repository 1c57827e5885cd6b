package dev.loraworkbench.trainer.runs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.loraworkbench.datasets.Sha256;
import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * trainer_state.json of a checkpoint. With the adapter and the optimizer moments it is all a resume needs:
 * data order, LR and dropout masks are pure functions of (seed, step).
 *
 * @param files SHA-256 of every other file of the checkpoint as it was written (null in checkpoints from before they
 *     were kept): a resume checks them and falls back to an older checkpoint when one does not match
 */
public record TrainerState(int globalStep, int totalSteps, long tokensSeen, int seed, String recipeSha256, String datasetSha256,
                           String reason, double trainLoss, String savedAt, LogWindow logWindow, BestSoFar best,
                           java.util.Map<String, String> files) {
    /** trainer_state.json's reason when early stopping ended the run: a resume has nothing left to do. */
    public static final String EARLY_STOP = "early_stop";

    public static final String FILE = "trainer_state.json";
    private static final ObjectMapper JSON = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    /** This state with the hashes of the files {@code dir} holds now (written last, so it vouches for them). */
    public TrainerState withFilesOf(Path dir) throws IOException {
        java.util.Map<String, String> hashes = new java.util.TreeMap<>();
        try (var s = Files.list(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String name = p.getFileName().toString();
                if (!name.equals(FILE) && !name.startsWith(".")) hashes.put(name, Sha256.of(p));
            }
        }
        return new TrainerState(globalStep, totalSteps, tokensSeen, seed, recipeSha256, datasetSha256, reason, trainLoss, savedAt, logWindow,
                best, hashes);
    }

    /** What is wrong with the checkpoint's files against the hashes saved with them, if anything (nothing to check in old checkpoints). */
    public java.util.Optional<String> damage(Path dir) {
        if (files == null) return java.util.Optional.empty();
        for (var e : files.entrySet()) {
            Path p = dir.resolve(e.getKey());
            if (!Files.isRegularFile(p)) return java.util.Optional.of(e.getKey() + " is missing");
            try {
                if (!Sha256.of(p).equals(e.getValue())) return java.util.Optional.of(e.getKey() + " does not match the hash it was saved with");
            } catch (IOException ex) {
                return java.util.Optional.of(e.getKey() + " cannot be read (" + ex.getMessage() + ")");
            }
        }
        return java.util.Optional.empty();
    }

    public void write(Path dir) throws IOException {
        AtomicFiles.writeString(dir.resolve(FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(this));
    }

    public static TrainerState read(Path dir) {
        Path file = dir.resolve(FILE);
        try {
            return JSON.readValue(Files.readString(file), TrainerState.class);
        } catch (IOException e) {
            throw new CheckpointFormatException(file + ": unreadable checkpoint state (" + e.getMessage() + ")");
        }
    }
}
