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

    /**
     * As TensorBoard shows them: files in the order they were started; a SessionLog START at step s (written
     * on resume) drops the points at s and after that an earlier session had written (event_accumulator's _Purge
     * keeps step < s).
     */
    public static Map<String, List<Point>> scalars(Path runDir) throws IOException {
        Map<String, List<Point>> out = new TreeMap<>();
        List<List<TfEventReader.Event>> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(runDir)) {
            for (Path f : s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents.")).toList()) files.add(TfEventReader.read(f));
        }
        files.sort(java.util.Comparator.comparingDouble(events -> events.get(0).wallTime()));
        for (List<TfEventReader.Event> events : files) {
            for (TfEventReader.Event e : events) {
                if (Integer.valueOf(1).equals(e.sessionStatus())) {
                    out.values().forEach(points -> points.removeIf(p -> p.step() >= e.step()));
                }
                for (TfEventReader.Scalar s : e.scalars()) out.computeIfAbsent(s.tag(), k -> new ArrayList<>()).add(new Point(e.step(), s.value()));
            }
        }
        return out;
    }

    /** Text summaries by tag (the first string of each). */
    public static Map<String, String> plugins(Path runDir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        for (TfEventReader.Event e : allEvents(runDir)) {
            for (var p : e.plugins()) if (p.plugin().equals("text")) out.put(p.tag(), p.strings().get(0));
        }
        return out;
    }

    /** The hparams of the run's session start record. */
    public static Map<String, Object> hparams(Path runDir) throws IOException {
        for (TfEventReader.Event e : allEvents(runDir)) {
            for (var p : e.plugins()) if (p.tag().equals("_hparams_/session_start_info")) return TfEventReader.sessionStartHparams(p.content());
        }
        return Map.of();
    }

    private static List<TfEventReader.Event> allEvents(Path runDir) throws IOException {
        List<TfEventReader.Event> all = new ArrayList<>();
        try (Stream<Path> s = Files.list(runDir)) {
            for (Path f : s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents.")).toList()) all.addAll(TfEventReader.read(f));
        }
        return all;
    }

    /** Steps of the run's hparams session end records (one per session that ended). */
    public static List<Long> hparamsSessionEndSteps(Path runDir) throws IOException {
        List<Long> steps = new ArrayList<>();
        for (TfEventReader.Event e : allEvents(runDir)) {
            for (var p : e.plugins()) if (p.tag().equals("_hparams_/session_end_info")) steps.add(e.step());
        }
        return steps;
    }

    /** True if some event file of the run has a SessionLog START at {@code step}. */
    public static boolean hasSessionStart(Path runDir, long step) throws IOException {
        try (Stream<Path> s = Files.list(runDir)) {
            for (Path f : s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents.")).toList()) {
                for (TfEventReader.Event e : TfEventReader.read(f)) {
                    if (Integer.valueOf(1).equals(e.sessionStatus()) && e.step() == step) return true;
                }
            }
        }
        return false;
    }
}
