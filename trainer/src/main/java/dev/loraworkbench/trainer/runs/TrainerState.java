package dev.loraworkbench.trainer.runs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * trainer_state.json of a checkpoint. With the adapter and the optimizer moments it is all a resume needs:
 * data order, LR and dropout masks are pure functions of (seed, step).
 */
public record TrainerState(int globalStep, int totalSteps, long tokensSeen, int seed, String recipeSha256, String datasetSha256,
                           String reason, double trainLoss, String savedAt, LogWindow logWindow, BestSoFar best) {
    /** trainer_state.json's reason when early stopping ended the run: a resume has nothing left to do. */
    public static final String EARLY_STOP = "early_stop";

    public static final String FILE = "trainer_state.json";
    private static final ObjectMapper JSON = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

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
