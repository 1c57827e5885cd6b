package dev.loraworkbench.datasets;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256 as hex over text and files streamed in order: the identity of data, recipes and checkpoint files. */
public final class Sha256 {
    private final MessageDigest digest;

    private Sha256() {
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e); // every JVM has SHA-256
        }
    }

    public static Sha256 start() { return new Sha256(); }

    public static String of(String text) { return start().add(text).hex(); }

    public static String of(Path file) throws IOException { return start().addFile(file).hex(); }

    /** The text's UTF-8 bytes. */
    public Sha256 add(String text) {
        digest.update(text.getBytes(StandardCharsets.UTF_8));
        return this;
    }

    /** The file's bytes, streamed. */
    public Sha256 addFile(Path file) throws IOException {
        byte[] buffer = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            int n;
            while ((n = in.read(buffer)) > 0) digest.update(buffer, 0, n);
        }
        return this;
    }

    public String hex() { return HexFormat.of().formatHex(digest.digest()); }
}
