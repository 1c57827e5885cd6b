package dev.loraworkbench.trainer.events;

import com.google.protobuf.CodedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * TensorBoard event file writer: {@code Event} protos (field numbers from tensorflow/core/util/event.proto)
 * in TFRecord framing (length, masked CRC32C of the length, data, masked CRC32C of the data).
 * Each record is flushed so a crash loses at most the record being written.
 */
public final class EventWriter implements AutoCloseable {
    private static final int WALL_TIME = 1, STEP = 2, FILE_VERSION = 3, SUMMARY = 5, SESSION_LOG = 7;
    private static final int SUMMARY_VALUE = 1, VALUE_TAG = 1, VALUE_SIMPLE = 2, VALUE_TENSOR = 8, VALUE_METADATA = 9;
    private static final int METADATA_PLUGIN_DATA = 1, PLUGIN_NAME = 1, PLUGIN_CONTENT = 2;
    private static final int TENSOR_DTYPE = 1, TENSOR_SHAPE = 2, TENSOR_FLOAT_VAL = 5, TENSOR_STRING_VAL = 8;
    private static final int DT_FLOAT = 1, DT_STRING = 7;
    private static final int SESSION_STATUS = 1;

    /** SessionLog.SessionStatus values. */
    public enum SessionStatus { UNSPECIFIED, START, STOP, CHECKPOINT }

    private final Path file;
    private final FileOutputStream out;

    private EventWriter(Path file, FileOutputStream out) {
        this.file = file;
        this.out = out;
    }

    /** Opens a new event file in {@code dir} named the way TensorBoard expects, and writes the file_version event. */
    public static EventWriter create(Path dir) throws IOException {
        Files.createDirectories(dir);
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "localhost";
        }
        long seconds = System.currentTimeMillis() / 1000;
        Path file = dir.resolve("events.out.tfevents." + seconds + "." + host + "." + ProcessHandle.current().pid() + ".0");
        for (int n = 1; Files.exists(file); n++) {
            file = dir.resolve("events.out.tfevents." + seconds + "." + host + "." + ProcessHandle.current().pid() + "." + n);
        }
        EventWriter w = new EventWriter(file, new FileOutputStream(file.toFile()));
        w.writeEvent(0, e -> e.writeString(FILE_VERSION, "brain.Event:2"));
        return w;
    }

    public Path file() { return file; }

    public void scalar(String tag, long step, double value) throws IOException {
        byte[] v = message(o -> {
            o.writeString(VALUE_TAG, tag);
            o.writeFloat(VALUE_SIMPLE, (float) value);
        });
        byte[] summary = message(o -> o.writeByteArray(SUMMARY_VALUE, v));
        writeEvent(step, e -> e.writeByteArray(SUMMARY, summary));
    }

    /** A text summary (TensorBoard's TEXT tab renders it as markdown). */
    public void text(String tag, long step, String markdown) throws IOException {
        byte[] tensor = message(o -> {
            o.writeEnum(TENSOR_DTYPE, DT_STRING);
            o.writeByteArray(TENSOR_SHAPE, new byte[0]);
            o.writeByteArray(TENSOR_STRING_VAL, markdown.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        });
        writePluginValue(tag, step, "text", new byte[0], tensor);
    }

    /**
     * The hparams plugin's session records (tensorboard/plugins/hparams/plugin_data.proto): a session start
     * with this run's hyper-parameters, and a session end with its status. No experiment summary is written:
     * TensorBoard then builds the experiment from all runs' sessions, so every run shows in the HPARAMS tab.
     */
    public void hparamsSessionStart(Map<String, Object> hparams, double startSeconds) throws IOException {
        byte[] start = message(o -> {
            for (var e : hparams.entrySet()) {
                byte[] value = protobufValue(e.getValue());
                byte[] entry = message(m -> {
                    m.writeString(1, e.getKey());
                    m.writeByteArray(2, value);
                });
                o.writeByteArray(1, entry); // map<string, google.protobuf.Value> hparams = 1
            }
            o.writeDouble(5, startSeconds);
        });
        writePluginValue("_hparams_/session_start_info", 0, "hparams", message(o -> o.writeByteArray(3, start)), nullTensor());
    }

    /** tensorboard.hparams.Status, in proto order (the ordinal is the enum number). */
    public enum HparamsStatus { UNKNOWN, SUCCESS, FAILURE, RUNNING }

    public void hparamsSessionEnd(HparamsStatus status, double endSeconds, long step) throws IOException {
        byte[] end = message(o -> {
            o.writeEnum(1, status.ordinal());
            o.writeDouble(2, endSeconds);
        });
        writePluginValue("_hparams_/session_end_info", step, "hparams", message(o -> o.writeByteArray(4, end)), nullTensor());
    }

    /** google.protobuf.Value: number_value = 2, string_value = 3, bool_value = 4. */
    private static byte[] protobufValue(Object v) throws IOException {
        return message(o -> {
            if (v instanceof Number n) o.writeDouble(2, n.doubleValue());
            else if (v instanceof Boolean b) o.writeBool(4, b);
            else o.writeString(3, String.valueOf(v));
        });
    }

    /** The scalar float 0 the hparams summaries carry as their tensor. */
    private static byte[] nullTensor() throws IOException {
        return message(o -> {
            o.writeEnum(TENSOR_DTYPE, DT_FLOAT);
            o.writeByteArray(TENSOR_SHAPE, new byte[0]);
            o.writeByteArray(TENSOR_FLOAT_VAL, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0f).array()); // packed
        });
    }

    private void writePluginValue(String tag, long step, String plugin, byte[] content, byte[] tensor) throws IOException {
        byte[] pluginData = message(o -> {
            o.writeString(PLUGIN_NAME, plugin);
            o.writeByteArray(PLUGIN_CONTENT, content);
        });
        byte[] metadata = message(o -> o.writeByteArray(METADATA_PLUGIN_DATA, pluginData));
        byte[] value = message(o -> {
            o.writeString(VALUE_TAG, tag);
            o.writeByteArray(VALUE_TENSOR, tensor);
            o.writeByteArray(VALUE_METADATA, metadata);
        });
        byte[] summary = message(o -> o.writeByteArray(SUMMARY_VALUE, value));
        writeEvent(step, e -> e.writeByteArray(SUMMARY, summary));
    }

    /** A SessionLog event; START at a resume step tells TensorBoard to drop later points from the earlier session. */
    public void sessionLog(long step, SessionStatus status) throws IOException {
        byte[] log = message(o -> o.writeEnum(SESSION_STATUS, status.ordinal()));
        writeEvent(step, e -> e.writeByteArray(SESSION_LOG, log));
    }

    private interface Fields {
        void write(CodedOutputStream o) throws IOException;
    }

    private static byte[] message(Fields fields) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream o = CodedOutputStream.newInstance(bytes);
        fields.write(o);
        o.flush();
        return bytes.toByteArray();
    }

    private void writeEvent(long step, Fields body) throws IOException {
        byte[] event = message(o -> {
            o.writeDouble(WALL_TIME, System.currentTimeMillis() / 1000.0);
            o.writeInt64(STEP, step);
            body.write(o);
        });
        writeRecord(out, event);
        out.flush();
    }

    /** TFRecord framing. */
    static void writeRecord(OutputStream out, byte[] data) throws IOException {
        byte[] length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(data.length).array();
        ByteBuffer frame = ByteBuffer.allocate(8 + 4 + data.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        frame.put(length).putInt(maskedCrc(length)).put(data).putInt(maskedCrc(data));
        out.write(frame.array());
    }

    static int maskedCrc(byte[] data) {
        CRC32C crc = new CRC32C();
        crc.update(data);
        int c = (int) crc.getValue();
        return ((c >>> 15) | (c << 17)) + 0xa282ead8;
    }

    @Override
    public void close() throws IOException {
        out.getFD().sync();
        out.close();
    }
}
