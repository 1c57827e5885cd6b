package dev.loraworkbench.trainer.events;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An independent reader of TensorBoard event files for tests: its own bitwise CRC32C (Castagnoli,
 * reflected polynomial 0x82F63B78) and its own protobuf wire decoding, using the field numbers of
 * tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto. Shares no code with the writer.
 */
final class TfEventReader {
    record Scalar(String tag, long step, float value) {}

    /** A summary value carrying plugin data (text, hparams): its tag, plugin name and content, and the tensor's strings. */
    record PluginValue(String tag, String plugin, byte[] content, List<String> strings) {}

    record Event(double wallTime, long step, String fileVersion, List<Scalar> scalars, List<PluginValue> plugins, Integer sessionStatus) {}

    static long crc32c(byte[] data, int off, int len) {
        int crc = 0xFFFFFFFF;
        for (int i = off; i < off + len; i++) {
            crc ^= data[i] & 0xFF;
            for (int k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82F63B78 & -(crc & 1));
        }
        return ~crc & 0xFFFFFFFFL;
    }

    static int masked(long crc) {
        int c = (int) crc;
        return ((c >>> 15) | (c << 17)) + 0xa282ead8;
    }

    static List<Event> read(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        List<Event> events = new ArrayList<>();
        while (b.remaining() > 0) {
            int start = b.position();
            long len = b.getLong();
            int lenCrc = b.getInt();
            if (lenCrc != masked(crc32c(all, start, 8))) throw new IOException("length CRC mismatch at " + start);
            byte[] data = new byte[(int) len];
            b.get(data);
            int dataCrc = b.getInt();
            if (dataCrc != masked(crc32c(data, 0, data.length))) throw new IOException("data CRC mismatch at " + start);
            events.add(parseEvent(data));
        }
        return events;
    }

    private static Event parseEvent(byte[] data) {
        Wire w = new Wire(data);
        double wall = 0;
        long step = 0;
        String version = null;
        List<Scalar> scalars = new ArrayList<>();
        List<PluginValue> plugins = new ArrayList<>();
        Integer status = null;
        while (w.more()) {
            long key = w.varint();
            int field = (int) (key >>> 3);
            switch (field) {
                case 1 -> wall = Double.longBitsToDouble(w.fixed64());
                case 2 -> step = w.varint();
                case 3 -> version = new String(w.bytes(), StandardCharsets.UTF_8);
                case 5 -> parseSummary(w.bytes(), scalars, plugins);
                case 7 -> {
                    Wire s = new Wire(w.bytes());
                    while (s.more()) {
                        long k = s.varint();
                        if ((k >>> 3) == 1) status = (int) s.varint(); else s.skip(k);
                    }
                }
                default -> w.skip(key);
            }
        }
        long finalStep = step;
        return new Event(wall, step, version, scalars.stream().map(s -> new Scalar(s.tag(), finalStep, s.value())).toList(), plugins, status);
    }

    /** Summary { repeated Value value = 1 }; Value { tag 1, simple_value 2, tensor 8, metadata 9 }. */
    private static void parseSummary(byte[] data, List<Scalar> scalars, List<PluginValue> plugins) {
        Wire w = new Wire(data);
        while (w.more()) {
            long key = w.varint();
            if ((key >>> 3) != 1) { w.skip(key); continue; }
            Wire v = new Wire(w.bytes());
            String tag = null;
            Float value = null;
            String plugin = null;
            byte[] content = null;
            List<String> strings = new ArrayList<>();
            while (v.more()) {
                long k = v.varint();
                switch ((int) (k >>> 3)) {
                    case 1 -> tag = new String(v.bytes(), StandardCharsets.UTF_8);
                    case 2 -> value = Float.intBitsToFloat(v.fixed32());
                    case 8 -> { // TensorProto: string_val = 8
                        Wire t = new Wire(v.bytes());
                        while (t.more()) {
                            long tk = t.varint();
                            if ((tk >>> 3) == 8) strings.add(new String(t.bytes(), StandardCharsets.UTF_8)); else t.skip(tk);
                        }
                    }
                    case 9 -> { // SummaryMetadata: plugin_data = 1 { plugin_name = 1, content = 2 }
                        Wire meta = new Wire(v.bytes());
                        while (meta.more()) {
                            long mk = meta.varint();
                            if ((mk >>> 3) != 1) { meta.skip(mk); continue; }
                            Wire pd = new Wire(meta.bytes());
                            while (pd.more()) {
                                long pk = pd.varint();
                                switch ((int) (pk >>> 3)) {
                                    case 1 -> plugin = new String(pd.bytes(), StandardCharsets.UTF_8);
                                    case 2 -> content = pd.bytes();
                                    default -> pd.skip(pk);
                                }
                            }
                        }
                    }
                    default -> v.skip(k);
                }
            }
            if (plugin != null) plugins.add(new PluginValue(tag, plugin, content, strings));
            else scalars.add(new Scalar(tag, -1, value));
        }
    }

    /** HParamsPluginData.session_start_info (3) -> hparams map (1) of google.protobuf.Value (number 2, string 3, bool 4). */
    static java.util.Map<String, Object> sessionStartHparams(byte[] pluginData) {
        java.util.Map<String, Object> out = new java.util.TreeMap<>();
        Wire w = new Wire(pluginData);
        while (w.more()) {
            long key = w.varint();
            if ((key >>> 3) != 3) { w.skip(key); continue; }
            Wire start = new Wire(w.bytes());
            while (start.more()) {
                long sk = start.varint();
                if ((sk >>> 3) != 1) { start.skip(sk); continue; }
                Wire entry = new Wire(start.bytes());
                String name = null;
                Object value = null;
                while (entry.more()) {
                    long ek = entry.varint();
                    if ((ek >>> 3) == 1) name = new String(entry.bytes(), StandardCharsets.UTF_8);
                    else if ((ek >>> 3) == 2) {
                        Wire val = new Wire(entry.bytes());
                        while (val.more()) {
                            long vk = val.varint();
                            switch ((int) (vk >>> 3)) {
                                case 2 -> value = Double.longBitsToDouble(val.fixed64());
                                case 3 -> value = new String(val.bytes(), StandardCharsets.UTF_8);
                                case 4 -> value = val.varint() != 0;
                                default -> val.skip(vk);
                            }
                        }
                    } else entry.skip(ek);
                }
                out.put(name, value);
            }
        }
        return out;
    }

    /** HParamsPluginData.session_end_info (4) -> status (1). */
    static int sessionEndStatus(byte[] pluginData) {
        Wire w = new Wire(pluginData);
        while (w.more()) {
            long key = w.varint();
            if ((key >>> 3) != 4) { w.skip(key); continue; }
            Wire end = new Wire(w.bytes());
            while (end.more()) {
                long ek = end.varint();
                if ((ek >>> 3) == 1) return (int) end.varint();
                end.skip(ek);
            }
        }
        return -1;
    }

    /** Protobuf wire format, just enough for these messages. */
    private static final class Wire {
        private final byte[] d;
        private int p;

        Wire(byte[] d) { this.d = d; }

        boolean more() { return p < d.length; }

        long varint() {
            long result = 0;
            for (int shift = 0; ; shift += 7) {
                byte b = d[p++];
                result |= (long) (b & 0x7F) << shift;
                if (b >= 0) return result;
            }
        }

        long fixed64() {
            long v = ByteBuffer.wrap(d, p, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            p += 8;
            return v;
        }

        int fixed32() {
            int v = ByteBuffer.wrap(d, p, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
            p += 4;
            return v;
        }

        byte[] bytes() {
            int n = (int) varint();
            byte[] out = java.util.Arrays.copyOfRange(d, p, p + n);
            p += n;
            return out;
        }

        void skip(long key) {
            switch ((int) (key & 7)) {
                case 0 -> varint();
                case 1 -> p += 8;
                case 2 -> bytes();
                case 5 -> p += 4;
                default -> throw new IllegalStateException("wire type " + (key & 7));
            }
        }
    }
}
