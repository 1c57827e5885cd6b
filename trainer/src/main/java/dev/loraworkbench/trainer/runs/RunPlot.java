package dev.loraworkbench.trainer.runs;

import dev.loraworkbench.trainer.events.EventReader;
import dev.loraworkbench.trainer.events.EventReader.Point;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.XYStyler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Training curves of one or more runs from their TensorBoard events: one XChart panel per tag, one series per run,
 * laid out two panels a row. {@link #image()} is what the CLI writes as PNG and what the notebook kernel displays.
 */
public final class RunPlot {
    /** The curves worth a first look; eval/loss only shows when some run has it. */
    public static final List<String> DEFAULT_TAGS = List.of("train/loss", "train/grad_norm", "train/learning_rate",
            "train/mean_token_accuracy", "eval/loss");
    public static final int PANEL_WIDTH = 560, PANEL_HEIGHT = 380, COLUMNS = 2;

    /** A run's name (its directory's) and its curves by tag. */
    public record Run(String name, Map<String, List<Point>> curves) {
        public static Run read(Path runDir) throws IOException {
            if (!hasEvents(runDir)) {
                throw new IllegalArgumentException(runDir + ": no TensorBoard event files here (is it a run directory, runs/<name>?)");
            }
            return new Run(runDir.toAbsolutePath().normalize().getFileName().toString(), EventReader.scalars(runDir));
        }

        private static boolean hasEvents(Path dir) throws IOException {
            if (!Files.isDirectory(dir)) return false;
            try (Stream<Path> s = Files.list(dir)) {
                return s.anyMatch(p -> p.getFileName().toString().startsWith("events.out.tfevents."));
            }
        }
    }

    private final List<String> tags;
    private final List<XYChart> panels;

    private RunPlot(List<String> tags, List<XYChart> panels) {
        this.tags = tags;
        this.panels = panels;
    }

    /** Reads the runs and plots {@code tags}, or {@link #DEFAULT_TAGS} (those some run has) when none are given. */
    public static RunPlot of(List<Path> runDirs, List<String> tags) throws IOException {
        List<Run> runs = new ArrayList<>();
        for (Path dir : runDirs) runs.add(Run.read(dir));
        return ofRuns(runs, tags);
    }

    public static RunPlot ofRuns(List<Run> runs, List<String> tags) {
        if (runs.isEmpty()) throw new IllegalArgumentException("no runs to plot");
        Set<String> present = new java.util.TreeSet<>();
        // a tag whose points a resume purged entirely has nothing to draw
        runs.forEach(r -> r.curves().forEach((tag, points) -> { if (!points.isEmpty()) present.add(tag); }));
        List<String> chosen = tags == null || tags.isEmpty() ? DEFAULT_TAGS.stream().filter(present::contains).toList() : tags;
        for (String tag : chosen) {
            if (!present.contains(tag)) throw new IllegalArgumentException("no run has the tag " + tag + "; tags present: " + String.join(", ", present));
        }
        if (chosen.isEmpty()) throw new IllegalArgumentException("the runs have none of " + DEFAULT_TAGS + " yet; tags present: " + present);
        List<XYChart> panels = new ArrayList<>();
        for (String tag : chosen) panels.add(panel(tag, runs));
        return new RunPlot(chosen, panels);
    }

    private static XYChart panel(String tag, List<Run> runs) {
        XYChart chart = new XYChartBuilder().width(PANEL_WIDTH).height(PANEL_HEIGHT).title(tag).xAxisTitle("step").build();
        XYStyler s = chart.getStyler();
        s.setLegendPosition(Styler.LegendPosition.OutsideS);
        s.setLegendLayout(Styler.LegendLayout.Horizontal);
        s.setChartBackgroundColor(Color.WHITE);
        s.setPlotBackgroundColor(Color.WHITE);
        // explicit patterns: XChart prints 6.691896438598633 for a narrow range, and 5e-3 .. 1e-5 would all read 0.00
        s.setYAxisDecimalPattern(tag.endsWith("learning_rate") ? "0.0E0" : "0.0##");
        Set<String> names = new HashSet<>();
        for (Run run : runs) {
            List<Point> points = run.curves().get(tag);
            if (points == null || points.isEmpty()) continue;
            String name = run.name();
            for (int n = 2; !names.add(name); n++) name = run.name() + " (" + n + ")"; // XChart needs distinct series names
            double[] x = points.stream().mapToDouble(Point::step).toArray();
            double[] y = points.stream().mapToDouble(Point::value).toArray();
            XYSeries series = chart.addSeries(name, x, y);
            series.setMarker(points.size() <= 20 ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE); // a lone eval point stays visible
        }
        return chart;
    }

    public List<String> tags() { return tags; }

    @Override
    public String toString() {
        return "RunPlot" + tags + " of " + panels.get(0).getSeriesMap().keySet();
    }

    /** The XChart panels, one per tag, for callers who want to restyle or show them one by one. */
    public List<XYChart> panels() { return panels; }

    /** All panels on one white image, {@value #COLUMNS} a row. */
    public BufferedImage image() {
        int rows = (panels.size() + COLUMNS - 1) / COLUMNS;
        int cols = Math.min(COLUMNS, panels.size());
        BufferedImage out = new BufferedImage(cols * PANEL_WIDTH, rows * PANEL_HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, out.getWidth(), out.getHeight());
            for (int i = 0; i < panels.size(); i++) {
                g.drawImage(BitmapEncoder.getBufferedImage(panels.get(i)), (i % COLUMNS) * PANEL_WIDTH, (i / COLUMNS) * PANEL_HEIGHT, null);
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    public void writePng(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        if (!ImageIO.write(image(), "png", file.toFile())) throw new IOException("no PNG writer in this JVM");
    }
}
