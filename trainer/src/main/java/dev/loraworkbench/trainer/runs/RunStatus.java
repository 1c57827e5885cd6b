package dev.loraworkbench.trainer.runs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.loraworkbench.trainer.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * run.json: where a run stands, rewritten atomically at its start, at every checkpoint and at its end.
 * A run whose process died without a word (kill -9, power loss) still says "running"; {@link #effectiveStatus}
 * tells it apart by its process id.
 */
public record RunStatus(
        String status, String started, String ended, int steps, int totalSteps, Double finalTrainLoss, Double bestEvalLoss,
        String baseModel, String quantization, int r, double lr, long pid, String message) {
    public static final String FILE = "run.json";
    public static final String RUNNING = "running", FINISHED = "finished", FAILED = "failed", INTERRUPTED = "interrupted";
    private static final ObjectMapper JSON = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    public void write(Path runDir) throws IOException {
        AtomicFiles.writeString(runDir.resolve(FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(this));
    }

    public static Optional<RunStatus> read(Path runDir) {
        Path file = runDir.resolve(FILE);
        if (!Files.isRegularFile(file)) return Optional.empty();
        try {
            return Optional.of(JSON.readValue(Files.readString(file), RunStatus.class));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    public RunStatus progress(int steps, Double trainLoss, Double bestEval) {
        return new RunStatus(status, started, ended, steps, totalSteps, trainLoss, bestEval, baseModel, quantization, r, lr, pid, message);
    }

    public RunStatus end(String newStatus, String why) {
        return new RunStatus(newStatus, started, Instant.now().toString(), steps, totalSteps, finalTrainLoss, bestEvalLoss,
                baseModel, quantization, r, lr, pid, why);
    }

    /** "running" only while the process that wrote it is alive; a vanished process means the run was cut off. */
    public String effectiveStatus() {
        if (!RUNNING.equals(status)) return status;
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) ? RUNNING : INTERRUPTED;
    }

    public Duration duration() {
        Instant from = Instant.parse(started);
        Instant to = ended != null ? Instant.parse(ended) : Instant.now();
        return Duration.between(from, to);
    }
}
