package dev.loraworkbench.trainer.events;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Scalars of every event file in a run directory, read with the independent {@link TfEventReader}. */
public final class TfEvents {
    public record Point(long step, double value) {}

    private TfEvents() {}

    public static Map<String, List<Point>> scalars(Path runDir) throws IOException {
        Map<String, List<Point>> out = new TreeMap<>();
        List<Path> files;
        try (Stream<Path> s = Files.list(runDir)) {
            files = s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents.")).sorted().toList();
        }
        for (Path f : files) {
            for (TfEventReader.Event e : TfEventReader.read(f)) {
                for (TfEventReader.Scalar s : e.scalars()) out.computeIfAbsent(s.tag(), k -> new ArrayList<>()).add(new Point(e.step(), s.value()));
            }
        }
        return out;
    }
}
