package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.events.TfEvents;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.runs.RunDirectory;
import dev.loraworkbench.trainer.runs.RunStatus;
import dev.loraworkbench.trainer.testing.ChildTraining;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The kill matrix: a training halted as by kill -9 at each kind of moment it makes something durable, then resumed, ends
 * where a run never halted ends: the same train and eval curves, the same checkpoints, best/ and final adapter byte for
 * byte, run.json finished, and no temporary file left. The moments are io.CrashPoints' renames (a file or directory just
 * before or after it is moved into place; RUN stands for the run's directory name). A point the run never reaches fails
 * the case: the child must halt.
 */
class KillMatrixTest {
    @TempDir static Path dir;
    private static Map<String, List<TfEvents.Point>> straight;

    private static Path recipe(String name) throws Exception {
        return Files.writeString(dir.resolve(name + ".yaml"), """
                model: {path: %s}
                lora: {r: 4, alpha: 8, dropout: 0.1}
                dataset: {path: %s, max_seq_len: 96, eval_fraction: 0.2}
                training: {max_steps: 6, micro_batch_size: 4, lr: 3.0e-3, save_every: 2, keep_checkpoints: 2, eval_every: 2}
                eval: {metrics: [loss]}
                output: {runs_dir: runs, name: %s}
                """.formatted(TinyModelFixture.dir(), TinyModelFixture.sampleData(), name));
    }

    private static PrintStream quiet() { return new PrintStream(new ByteArrayOutputStream()); }

    @BeforeAll
    static void straightRun() throws Exception {
        TrainingRun.execute(RecipeLoader.load(recipe("straight"), List.of()), new AtomicBoolean(), quiet());
        straight = TfEvents.scalars(dir.resolve("runs/straight"));
        assertEquals(4, straight.get("eval/loss").size(), "evaluations at steps 0, 2, 4, 6");
    }

    /**
     * Where the child halts. Every build runs the first seven; mvn -Plong (killmatrix.full) all of them. "A;B": halted at A,
     * then `train --resume` halted at B, then resumed to the end.
     */
    static Stream<String> points() {
        List<String> everyBuild = List.of(
                "written:RUN/recipe\\.yaml",                       // the run exists, no checkpoint yet
                "write:RUN/run\\.json#3",                          // a status update, mid-run
                "write:\\.step-4\\.tmp-.*/trainer_state\\.json",   // checkpoint 4 written but for the file that vouches for it
                "publish:step-4",                                  // checkpoint 4 complete under its temporary name
                "published:step-6",                                // the last checkpoint in place, step-2 not yet rotated out
                "publish:best#2",                                  // the second best/ not yet in place
                "write:RUN/adapter_model\\.safetensors");          // the final adapter half-way
        List<String> longProfile = List.of(
                "written:RUN/run\\.json#1",
                "write:\\.step-2\\.tmp-.*/adapter_model\\.safetensors",
                "write:\\.step-2\\.tmp-.*/adapter_config\\.json",
                "write:\\.step-2\\.tmp-.*/optimizer\\.safetensors",
                "write:\\.step-2\\.tmp-.*/recipe\\.yaml",
                "publish:step-2",
                "published:step-2",
                "published:step-4",
                "publish:step-6",
                "publish:best#1",
                "published:best#1",
                "published:best#2",
                "write:RUN/run\\.json#2",
                "write:RUN/run\\.json#4",
                "write:RUN/adapter_config\\.json",
                "written:RUN/adapter_model\\.safetensors",
                "publish:step-4;publish:step-6",                   // killed again while resuming
                "write:RUN/run\\.json#3;write:RUN/adapter_model\\.safetensors");
        return Boolean.getBoolean("killmatrix.full") ? Stream.concat(everyBuild.stream(), longProfile.stream()) : everyBuild.stream();
    }

    @ParameterizedTest
    @MethodSource("points")
    void resumeAfterAHaltEndsWhereAStraightRunEnds(String point) throws Exception {
        String name = "k" + Integer.toHexString(point.hashCode());
        Path recipe = recipe(name);
        Path runDir = dir.resolve("runs").resolve(name);
        Path log = dir.resolve(name + ".log");
        String[] halts = point.split(";");
        for (int i = 0; i < halts.length; i++) {
            List<String> args = i == 0 ? List.of("train", recipe.toString()) : List.of("train", recipe.toString(), "--resume");
            Process child = ChildTraining.start(args, log, "workbench.crash-test.halt-at=" + halts[i].replace("RUN", name));
            assertTrue(child.waitFor(180, TimeUnit.SECONDS), "child finished");
            assertEquals(137, child.exitValue(), halts[i] + ": the child halted there\n" + Files.readString(log));
        }

        TrainingRun.resume(RecipeLoader.load(recipe, List.of()), runDir, false, new AtomicBoolean(), quiet());

        Map<String, List<TfEvents.Point>> resumed = TfEvents.scalars(runDir);
        for (String tag : List.of("train/loss", "train/grad_norm", "eval/loss")) assertEquals(straight.get(tag), resumed.get(tag), point + ": " + tag);
        Path done = dir.resolve("runs/straight");
        assertArrayEquals(Files.readAllBytes(done.resolve(PeftFormat.WEIGHTS)), Files.readAllBytes(runDir.resolve(PeftFormat.WEIGHTS)), point + ": final adapter");
        assertArrayEquals(Files.readAllBytes(done.resolve(RunDirectory.BEST).resolve(PeftFormat.WEIGHTS)),
                Files.readAllBytes(runDir.resolve(RunDirectory.BEST).resolve(PeftFormat.WEIGHTS)), point + ": best/");
        assertEquals(names(done.resolve("checkpoints")), names(runDir.resolve("checkpoints")), point + ": checkpoints kept");
        for (String c : names(done.resolve("checkpoints"))) {
            assertArrayEquals(Files.readAllBytes(done.resolve("checkpoints").resolve(c).resolve(PeftFormat.WEIGHTS)),
                    Files.readAllBytes(runDir.resolve("checkpoints").resolve(c).resolve(PeftFormat.WEIGHTS)), point + ": " + c);
        }
        RunStatus status = RunStatus.read(runDir).orElseThrow();
        assertEquals(RunStatus.Status.FINISHED, status.status(), point);
        assertEquals(6, status.steps(), point);
        try (Stream<Path> all = Files.walk(runDir)) {
            List<Path> leftovers = all.filter(p -> p.getFileName().toString().startsWith(".") && !p.getFileName().toString().equals(".lock")).toList();
            assertEquals(List.of(), leftovers, point + ": temporary files left");
        }
    }

    private static List<String> names(Path d) throws Exception {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
