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
import java.util.zip.CRC32C;

/**
 * TensorBoard event file writer: {@code Event} protos (field numbers from tensorflow/core/util/event.proto)
 * in TFRecord framing (length, masked CRC32C of the length, data, masked CRC32C of the data).
 * Each record is flushed so a crash loses at most the record being written.
 */
public final class EventWriter implements AutoCloseable {
    private static final int WALL_TIME = 1, STEP = 2, FILE_VERSION = 3, SUMMARY = 5, SESSION_LOG = 7;
    private static final int SUMMARY_VALUE = 1, VALUE_TAG = 1, VALUE_SIMPLE = 2;
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
