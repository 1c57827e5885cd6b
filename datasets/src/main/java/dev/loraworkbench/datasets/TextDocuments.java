package dev.loraworkbench.datasets;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Files read as documents (source code, Markdown, plain text) for training on raw text: a file, a directory (walked,
 * hidden entries such as .git left out) or a glob ({@code src/**}{@code /*.java}). Binary files, files over the size
 * limit and files that are not UTF-8 are skipped and counted, never fatal: a repository always holds a few.
 */
public final class TextDocuments {
    /** Why a file was left out. */
    public enum Skip {
        BINARY("binary"), TOO_LARGE("over the size limit"), NOT_UTF8("not UTF-8"), EMPTY("empty");

        private final String reason;

        Skip(String reason) { this.reason = reason; }

        public String reason() { return reason; }
    }

    /** One file's text; {@code name} is its path relative to the source's root (what a path header shows). */
    public record Document(String name, Path file, String text) {}

    /** The documents of one source in name order, and the files left out by reason. */
    public record Scan(List<Document> documents, Map<Skip, List<Path>> skipped) {
        public int skippedCount() {
            return skipped.values().stream().mapToInt(List::size).sum();
        }

        /** "2 binary, 1 not UTF-8" (empty when nothing was skipped). */
        public String skippedSummary() {
            List<String> parts = new ArrayList<>();
            skipped.forEach((why, files) -> { if (!files.isEmpty()) parts.add(files.size() + " " + why.reason()); });
            return String.join(", ", parts);
        }
    }

    /** Bytes looked at for a NUL (git's test for a binary file). */
    private static final int SNIFF = 8000;

    private TextDocuments() {}

    /**
     * @param path a file, a directory, or a pattern with a glob in it (relative patterns match below the part before the first glob)
     * @param exclude globs matched against each file's path relative to the root (e.g. {@code **}{@code /target/**}, {@code *.lock})
     * @param maxBytes files larger than this are skipped
     */
    public static Scan read(Path path, List<String> exclude, long maxBytes) {
        Path root;
        PathMatcher include;
        String text = path.toString();
        int glob = firstGlob(text);
        if (glob >= 0) {
            int slash = text.lastIndexOf(path.getFileSystem().getSeparator(), glob);
            root = Path.of(slash < 0 ? "." : text.substring(0, Math.max(1, slash)));
            include = globMatcher(text.substring(slash + 1));
        } else if (Files.isDirectory(path)) {
            root = path;
            include = p -> true;
        } else if (Files.isRegularFile(path)) {
            root = path.toAbsolutePath().getParent();
            include = p -> p.equals(path.getFileName());
        } else {
            throw new DatasetException(path + ": no such file or directory (check the source's path in the recipe)");
        }
        if (!Files.isDirectory(root)) throw new DatasetException(root + ": no such directory (the part of " + path + " before its first glob)");
        List<PathMatcher> excluded = exclude.stream().map(TextDocuments::globMatcher).toList();
        List<Path> files = new ArrayList<>();
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                    if (dir.equals(root)) return FileVisitResult.CONTINUE;
                    Path relative = root.relativize(dir);
                    boolean hidden = dir.getFileName().toString().startsWith(".");
                    // "target" or "**/target" names the directory, "**/target/**" what is in it: either leaves it out
                    boolean out = matchesAny(excluded, relative) || matchesAny(excluded, relative.resolve("x"));
                    return hidden || out ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    Path relative = root.relativize(file);
                    if (attrs.isRegularFile() && !file.getFileName().toString().startsWith(".") && include.matches(relative)
                            && !matchesAny(excluded, relative)) {
                        files.add(file);
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) {
                    throw new DatasetException(file + ": cannot read (" + e.getMessage() + ")");
                }
            });
        } catch (IOException e) {
            throw new DatasetException(root + ": cannot list (" + e.getMessage() + ")");
        }
        files.sort(null);
        if (files.isEmpty()) throw new DatasetException(path + ": no file found" + (exclude.isEmpty() ? "" : " (after exclude " + exclude + ")"));
        List<Document> documents = new ArrayList<>();
        Map<Skip, List<Path>> skipped = new EnumMap<>(Skip.class);
        for (Skip s : Skip.values()) skipped.put(s, new ArrayList<>());
        for (Path file : files) {
            Object read = readOne(file, maxBytes);
            if (read instanceof Skip why) skipped.get(why).add(file);
            else documents.add(new Document(root.relativize(file).toString().replace('\\', '/'), file, (String) read));
        }
        return new Scan(documents, skipped);
    }

    /** SHA-256 over each document's name and text, in order: a text source's identity for resume (skipped files do not count). */
    public static String sha256(Scan scan) {
        Sha256 hash = Sha256.start();
        for (Document d : scan.documents()) hash.add(d.name() + "\u0000" + d.text() + "\u0001");
        return hash.hex();
    }

    /** The file's text, or why it is skipped. */
    private static Object readOne(Path file, long maxBytes) {
        try {
            long size = Files.size(file);
            if (size > maxBytes) return Skip.TOO_LARGE;
            if (size == 0) return Skip.EMPTY;
            byte[] bytes;
            try (InputStream in = Files.newInputStream(file)) {
                bytes = in.readAllBytes();
            }
            for (int i = 0; i < Math.min(SNIFF, bytes.length); i++) if (bytes[i] == 0) return Skip.BINARY;
            String text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
            if (text.startsWith("\uFEFF")) text = text.substring(1); // a byte-order mark is no part of the text
            return text.isBlank() ? Skip.EMPTY : text;
        } catch (CharacterCodingException e) {
            return Skip.NOT_UTF8;
        } catch (IOException e) {
            throw new DatasetException(file + ": cannot read (" + e.getMessage() + ")");
        }
    }

    /** A glob over relative paths where a leading **{@literal /} also matches at the top level, as in .gitignore. */
    private static PathMatcher globMatcher(String glob) {
        PathMatcher full = FileSystems.getDefault().getPathMatcher("glob:" + glob);
        if (!glob.startsWith("**/")) return full;
        PathMatcher top = FileSystems.getDefault().getPathMatcher("glob:" + glob.substring(3));
        return p -> full.matches(p) || top.matches(p);
    }

    private static boolean matchesAny(List<PathMatcher> globs, Path relative) {
        for (PathMatcher g : globs) if (g.matches(relative) || g.matches(relative.getFileName())) return true;
        return false;
    }

    private static int firstGlob(String text) {
        for (int i = 0; i < text.length(); i++) if ("*?[{".indexOf(text.charAt(i)) >= 0) return i;
        return -1;
    }
}
