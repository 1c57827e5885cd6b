package dev.loraworkbench.trainer.runs;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.loraworkbench.trainer.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Optional;

/**
 * run.json: where a run stands, rewritten atomically at its start, at every checkpoint and at its end.
 * A run whose process died without a word (kill -9, power loss) still says "running"; {@link #effectiveStatus}
 * tells it apart by its process id.
 */
public record RunStatus(
        Status status, String started, String ended, int steps, int totalSteps, Double finalTrainLoss, Double bestEvalLoss,
        String baseModel, String quantization, int r, double lr, long pid, String message, BestSoFar best) {
    public static final String FILE = "run.json";

    /** What run.json says of a run, written in lower case ("running"). */
    public enum Status {
        RUNNING, FINISHED, FAILED, INTERRUPTED;

        @JsonValue
        public String label() { return name().toLowerCase(Locale.ROOT); }

        @JsonCreator
        public static Status of(String label) { return valueOf(label.toUpperCase(Locale.ROOT)); }

        @Override
        public String toString() { return label(); }
    }

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

    public RunStatus progress(int steps, Double trainLoss, Double bestEval, BestSoFar bestSoFar) {
        return new RunStatus(status, started, ended, steps, totalSteps, trainLoss, bestEval, baseModel, quantization, r, lr, pid, message, bestSoFar);
    }

    public RunStatus end(Status newStatus, String why) {
        return new RunStatus(newStatus, started, Instant.now().toString(), steps, totalSteps, finalTrainLoss, bestEvalLoss,
                baseModel, quantization, r, lr, pid, why, best);
    }

    /** "running" only while the process that wrote it is alive; a vanished process means the run was cut off. */
    public Status effectiveStatus() {
        if (status != Status.RUNNING) return status;
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) ? Status.RUNNING : Status.INTERRUPTED;
    }

    public Duration duration() {
        Instant from = Instant.parse(started);
        Instant to = ended != null ? Instant.parse(ended) : Instant.now();
        return Duration.between(from, to);
    }
}
