package dev.loraworkbench.trainer.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.stream.Stream;

/** Write-to-temporary, fsync, rename: a crash leaves either the old file or the complete new one, never half of it. */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** What goes into a file. */
    @FunctionalInterface
    public interface FileContents {
        void writeTo(OutputStream out) throws IOException;
    }

    public static void write(Path target, FileContents body) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
                 OutputStream out = new java.io.BufferedOutputStream(java.nio.channels.Channels.newOutputStream(ch), 1 << 20)) {
                body.writeTo(out);
                out.flush();
                ch.force(true);
            }
            moveIntoPlace(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * A file written over time by a streaming writer: its bytes go to a temporary sibling; {@link #publish} syncs it and
     * renames it into place, {@link #close} without a publish (a failed or abandoned write) deletes it.
     */
    public static final class PendingFile implements AutoCloseable {
        private final Path target;
        private final Path tmp;
        private final FileChannel channel;
        private final OutputStream out;
        private boolean closed;

        public PendingFile(Path target) throws IOException {
            this.target = target;
            Path dir = target.toAbsolutePath().getParent();
            Files.createDirectories(dir);
            this.tmp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
            this.channel = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
            this.out = new java.io.BufferedOutputStream(java.nio.channels.Channels.newOutputStream(channel), 1 << 20);
        }

        public OutputStream out() { return out; }

        public void publish() throws IOException {
            out.flush();
            channel.force(true);
            out.close();
            closed = true;
            moveIntoPlace(tmp, target);
        }

        @Override
        public void close() throws IOException {
            try {
                if (!closed) out.close();
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }

    public static void writeString(Path target, String text) throws IOException {
        write(target, out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
    }

    /** What goes into a directory before it is published. */
    @FunctionalInterface
    public interface DirectoryContents {
        void writeTo(Path dir) throws IOException;
    }

    /**
     * Builds a directory under a temporary sibling name and renames it to {@code target} only when complete,
     * replacing an older {@code target}: a crash leaves the previous directory or none, never a half-written one.
     */
    public static void publishDirectory(Path target, DirectoryContents contents) throws IOException {
        Path parent = target.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + target.getFileName() + ".tmp-");
        try {
            contents.writeTo(tmp);
            deleteTree(target);
            moveIntoPlace(tmp, target);
            syncDirectory(parent);
        } finally {
            deleteTree(tmp);
        }
    }

    /** Renames a finished temporary file or directory to its real name, atomically where the file system can. */
    public static void moveIntoPlace(Path tmp, Path target) throws IOException {
        boolean dir = Files.isDirectory(tmp);
        Path parent = target.toAbsolutePath().getParent();
        String name = dir ? target.getFileName().toString() : (parent.getFileName() == null ? "" : parent.getFileName()) + "/" + target.getFileName();
        CrashPoints.reach((dir ? "publish:" : "write:") + name);
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
        CrashPoints.reach((dir ? "published:" : "written:") + name);
    }

    /** Makes a rename durable (Linux allows fsync on a directory opened for reading). */
    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // not supported on this file system: the rename is still atomic, just not yet durable
        }
    }

    public static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }

    /** True for an existing directory with no entries. */
    public static boolean isEmptyDirectory(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return false;
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }
}
