package dev.loraworkbench.trainer.events;

import com.google.protobuf.CodedInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Reads the scalar curves of a run directory's TensorBoard event files, as TensorBoard shows them: files in the
 * order they were started, and a SessionLog START at step s (written on resume) drops the points at s and after
 * that an earlier session had written. Only what plotting needs: simple_value scalars and SessionLog status.
 */
public final class EventReader {
    /** One point of a curve. */
    public record Point(long step, double value) {}

    private static final int WALL_TIME = 1, STEP = 2, SUMMARY = 5, SESSION_LOG = 7;
    private static final int SUMMARY_VALUE = 1, VALUE_TAG = 1, VALUE_SIMPLE = 2, SESSION_STATUS = 1;

    private record Event(double wallTime, long step, Map<String, Double> scalars, boolean sessionStart) {}

    private EventReader() {}

    /** Every scalar tag of the run, each curve in step order of writing. */
    public static Map<String, List<Point>> scalars(Path runDir) throws IOException {
        List<List<Event>> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(runDir)) {
            for (Path f : s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents.")).sorted().toList()) {
                List<Event> events = read(f);
                if (!events.isEmpty()) files.add(events);
            }
        }
        files.sort(Comparator.comparingDouble(events -> events.get(0).wallTime()));
        Map<String, List<Point>> out = new TreeMap<>();
        for (List<Event> events : files) {
            for (Event e : events) {
                if (e.sessionStart()) out.values().forEach(points -> points.removeIf(p -> p.step() >= e.step()));
                e.scalars().forEach((tag, v) -> out.computeIfAbsent(tag, k -> new ArrayList<>()).add(new Point(e.step(), v)));
            }
        }
        return out;
    }

    /**
     * The events of one file. A record cut short at the end (a run still writing, or killed mid-write) ends the
     * file quietly; a CRC mismatch before that is an error.
     */
    static List<Event> read(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        List<Event> events = new ArrayList<>();
        while (b.remaining() >= 12) {
            int start = b.position();
            long len = b.getLong();
            int lenCrc = b.getInt();
            // a bad checksum (e.g. zeros after a power loss) ends the file's usable part, as TensorBoard treats it
            if (lenCrc != EventWriter.maskedCrc(java.util.Arrays.copyOfRange(all, start, start + 8))) {
                System.err.println("warning: " + file + ": corrupt record length at byte " + start + "; reading stops there");
                break;
            }
            if (len < 0 || b.remaining() < len + 4) break;
            byte[] data = new byte[(int) len];
            b.get(data);
            if (b.getInt() != EventWriter.maskedCrc(data)) {
                System.err.println("warning: " + file + ": corrupt record at byte " + start + "; reading stops there");
                break;
            }
            events.add(parse(data));
        }
        return events;
    }

    private static Event parse(byte[] data) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(data);
        double wall = 0;
        long step = 0;
        Map<String, Double> scalars = new TreeMap<>();
        boolean start = false;
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            switch (tag >>> 3) {
                case WALL_TIME -> wall = in.readDouble();
                case STEP -> step = in.readInt64();
                case SUMMARY -> readSummary(in.readByteArray(), scalars);
                case SESSION_LOG -> start = sessionStatus(in.readByteArray()) == EventWriter.SessionStatus.START.ordinal();
                default -> in.skipField(tag);
            }
        }
        return new Event(wall, step, scalars, start);
    }

    /** Summary { repeated Value value = 1 }; Value { string tag = 1; float simple_value = 2; ... }. */
    private static void readSummary(byte[] summary, Map<String, Double> scalars) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(summary);
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            if (tag >>> 3 != SUMMARY_VALUE) { in.skipField(tag); continue; }
            CodedInputStream v = CodedInputStream.newInstance(in.readByteArray());
            String name = null;
            Float value = null;
            for (int t = v.readTag(); t != 0; t = v.readTag()) {
                switch (t >>> 3) {
                    case VALUE_TAG -> name = v.readString();
                    case VALUE_SIMPLE -> value = v.readFloat();
                    default -> v.skipField(t);
                }
            }
            if (name != null && value != null) scalars.put(name, (double) value);
        }
    }

    private static int sessionStatus(byte[] log) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(log);
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            if (tag >>> 3 == SESSION_STATUS) return in.readEnum();
            in.skipField(tag);
        }
        return 0;
    }
}
