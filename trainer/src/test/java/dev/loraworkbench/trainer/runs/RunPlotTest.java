package dev.loraworkbench.trainer.runs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.events.EventReader;
import dev.loraworkbench.trainer.events.EventWriter;
import dev.loraworkbench.trainer.events.TfEvents;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.LongStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;

class RunPlotTest {
    @TempDir Path dir;

    /** Steps from..to of the four train curves, eval/loss every 5 steps, in a new event file (as each session writes). */
    private static void session(Path run, long from, long to, double lossOffset, boolean resumed) throws Exception {
        try (EventWriter w = EventWriter.create(run)) {
            if (resumed) w.sessionLog(from, EventWriter.SessionStatus.START);
            for (long step = from; step <= to; step++) {
                w.scalar("train/loss", step, 3.0 - 0.1 * step + lossOffset);
                w.scalar("train/grad_norm", step, 1.0 / step);
                w.scalar("train/learning_rate", step, 1e-3 * (1 - step / 20.0));
                w.scalar("train/mean_token_accuracy", step, 0.05 * step);
                if (step % 5 == 0) w.scalar("eval/loss", step, 2.5 - 0.05 * step);
            }
        }
        Thread.sleep(5); // the next session's file starts later, as in a real resume
    }

    @Test
    void resumedRunKeepsTheLaterSessionFromItsStartStep() throws Exception {
        Path run = dir.resolve("resumed");
        session(run, 1, 10, 0, false);
        session(run, 7, 12, 1.0, true); // crashed after step 10, resumed from the step-6 checkpoint: steps 7..10 are redone
        Map<String, List<EventReader.Point>> curves = EventReader.scalars(run);
        List<EventReader.Point> loss = curves.get("train/loss");
        assertArrayEquals(LongStream.rangeClosed(1, 12).toArray(), loss.stream().mapToLong(EventReader.Point::step).toArray());
        assertEquals(3.0 - 0.6, loss.get(5).value(), 1e-6);       // step 6 from the first session
        assertEquals(3.0 - 0.7 + 1.0, loss.get(6).value(), 1e-6); // step 7 from the resumed one
        assertEquals(List.of(5L, 10L), curves.get("eval/loss").stream().map(EventReader.Point::step).toList());

        // the same curves as the tests' independent reader (its own CRC and protobuf decoding) sees them
        Map<String, List<TfEvents.Point>> independent = TfEvents.scalars(run);
        assertEquals(independent.keySet(), curves.keySet());
        for (String tag : curves.keySet()) {
            assertEquals(independent.get(tag).stream().map(p -> p.step() + "=" + (float) p.value()).toList(),
                    curves.get(tag).stream().map(p -> p.step() + "=" + (float) p.value()).toList(), tag);
        }
    }

    /** Zeros after the last record (a power loss) end the file's usable part instead of making the run unreadable. */
    @Test
    void aCorruptTailIsIgnoredAsTensorBoardDoes() throws Exception {
        Path run = java.nio.file.Files.createDirectories(dir.resolve("crashed"));
        session(run, 1, 6, 0, false);
        try (var files = java.nio.file.Files.list(run)) {
            Path events = files.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents")).findFirst().orElseThrow();
            java.nio.file.Files.write(events, new byte[16], java.nio.file.StandardOpenOption.APPEND);
        }
        assertEquals(6, EventReader.scalars(run).get("train/loss").size());
    }

    @Test
    void writesOnePanelPerTagAndOneSeriesPerRun() throws Exception {
        Path a = dir.resolve("r8-lr1e-3"), b = dir.resolve("r16-lr5e-3");
        session(a, 1, 10, 0, false);
        session(b, 1, 8, 0.5, false);
        RunPlot plot = RunPlot.of(List.of(a, b), List.of());
        assertEquals(RunPlot.DEFAULT_TAGS, plot.tags());
        XYChart loss = plot.panels().get(0);
        assertEquals(List.of("r8-lr1e-3", "r16-lr5e-3"), List.copyOf(loss.getSeriesMap().keySet()));
        assertArrayEquals(LongStream.rangeClosed(1, 8).asDoubleStream().toArray(), loss.getSeriesMap().get("r16-lr5e-3").getXData());
        assertEquals(3.0 - 0.1 + 0.5, loss.getSeriesMap().get("r16-lr5e-3").getYData()[0], 1e-6);

        Path png = dir.resolve("out/curves.png");
        plot.writePng(png);
        byte[] bytes = Files.readAllBytes(png);
        assertTrue(bytes.length > 10_000, "a PNG of five charts, not an empty image: " + bytes.length + " bytes");
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(2 * RunPlot.PANEL_WIDTH, image.getWidth());
        assertEquals(3 * RunPlot.PANEL_HEIGHT, image.getHeight()); // five panels, two a row
    }

    @Test
    void evalLossOnlyWhenPresentAndUnknownTagsAreNamed() throws Exception {
        Path run = dir.resolve("short");
        session(run, 1, 4, 0, false); // no eval point before step 5
        assertEquals(RunPlot.DEFAULT_TAGS.subList(0, 4), RunPlot.of(List.of(run), List.of()).tags());
        var e = assertThrows(IllegalArgumentException.class, () -> RunPlot.of(List.of(run), List.of("train/los")));
        assertTrue(e.getMessage().contains("no run has the tag train/los; tags present: train/grad_norm, train/learning_rate"), e.getMessage());
        var notRun = assertThrows(IllegalArgumentException.class, () -> RunPlot.of(List.of(dir.resolve("nope")), List.of()));
        assertTrue(notRun.getMessage().contains("no TensorBoard event files"), notRun.getMessage());
    }
}
