package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files read as documents and cut into training windows: what is read, what is skipped, and which tokens carry loss. */
class TextSourcesTest {
    @TempDir Path dir;

    private Path repository() throws IOException {
        Path root = Files.createDirectories(dir.resolve("repo"));
        Files.createDirectories(root.resolve("src/main"));
        Files.createDirectories(root.resolve("target"));
        Files.createDirectories(root.resolve(".git"));
        Files.writeString(root.resolve("README.md"), "The trainer trains LoRA adapters.\n");
        Files.writeString(root.resolve("src/main/Trainer.java"), "class Trainer { /* trains the adapter */ }\n");
        Files.writeString(root.resolve("target/Built.java"), "class Built {}\n");
        Files.writeString(root.resolve(".git/config"), "[core]\n");
        Files.write(root.resolve("logo.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, 0, 1});
        Files.write(root.resolve("latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xE9, '\n'});
        Files.writeString(root.resolve("big.txt"), "x".repeat(2_000));
        Files.writeString(root.resolve("empty.txt"), "");
        return root;
    }

    @Test
    void aDirectoryIsReadInNameOrderWithUnreadableFilesSkippedAndCounted() throws IOException {
        Path root = repository();
        TextDocuments.Scan scan = TextDocuments.read(root, List.of("target"), 1_000);
        assertEquals(List.of("README.md", "src/main/Trainer.java"), scan.documents().stream().map(TextDocuments.Document::name).toList(),
                "hidden .git and the excluded target/ are not read");
        assertEquals(List.of(root.resolve("logo.png")), scan.skipped().get(TextDocuments.Skip.BINARY));
        assertEquals(List.of(root.resolve("latin1.txt")), scan.skipped().get(TextDocuments.Skip.NOT_UTF8));
        assertEquals(List.of(root.resolve("big.txt")), scan.skipped().get(TextDocuments.Skip.TOO_LARGE));
        assertEquals(List.of(root.resolve("empty.txt")), scan.skipped().get(TextDocuments.Skip.EMPTY));
        assertEquals(4, scan.skippedCount());
        assertEquals("1 binary, 1 over the size limit, 1 not UTF-8, 1 empty", scan.skippedSummary());
        assertEquals("The trainer trains LoRA adapters.\n", scan.documents().get(0).text());
    }

    @Test
    void globsAndExcludesMatchAtEveryDepthAsInGitignore() throws IOException {
        Path root = repository();
        var java = TextDocuments.read(Path.of(root + "/**/*.java"), List.of("**/target/**"), 1_000_000);
        assertEquals(List.of("src/main/Trainer.java"), java.documents().stream().map(TextDocuments.Document::name).toList());
        var markdown = TextDocuments.read(Path.of(root + "/**/*.md"), List.of(), 1_000_000);
        assertEquals(List.of("README.md"), markdown.documents().stream().map(TextDocuments.Document::name).toList(), "**/ also matches at the top");
        var one = TextDocuments.read(root.resolve("README.md"), List.of(), 1_000_000);
        assertEquals(1, one.documents().size());
        assertThrows(DatasetException.class, () -> TextDocuments.read(root.resolve("nope"), List.of(), 1_000));
        var none = assertThrows(DatasetException.class, () -> TextDocuments.read(Path.of(root + "/**/*.rs"), List.of(), 1_000));
        assertTrue(none.getMessage().contains("no file found"), none.getMessage());
    }

    @Test
    void windowsCoverTheDocumentEndWithTheEndOfTextTokenAndTrainEveryTokenOnce() throws IOException {
        try (TokenizerFiles tok = TokenizerFiles.load(TestTokenizers.chatml(dir))) {
            // numbered words: no stretch of tokens repeats, so each window's place in the document can be found
            String text = java.util.stream.IntStream.range(0, 60).mapToObj(i -> "trainer" + i).collect(java.util.stream.Collectors.joining(" "));
            var doc = new TextDocuments.Document("docs/trainer.md", dir.resolve("trainer.md"), text);
            int[] tokens = append(tok.encode(text), tok.documentEndId());
            assertEquals(tok.tokenId("<|endoftext|>"), tok.documentEndId(), "the pretraining separator, not ChatML's end of turn");
            assertTrue(tokens.length > 100, "long enough for several windows: " + tokens.length);

            for (int stride : new int[] {0, 1, 5}) {
                List<EncodedExample> windows = new TextWindows(tok, 16, stride, false).windows(doc);
                int[] timesTrained = new int[tokens.length];
                int previousStart = -1;
                for (int k = 0; k < windows.size(); k++) {
                    EncodedExample w = windows.get(k);
                    assertEquals(16, w.ids().length, "every window is full, the last one included");
                    int start = indexOf(tokens, w.ids());
                    assertTrue(start > previousStart, "windows follow the document");
                    if (k > 0 && k < windows.size() - 1) assertEquals(16 - Math.max(1, stride), start - previousStart, "stride " + stride);
                    previousStart = start;
                    for (int t = 0; t < w.ids().length; t++) {
                        if (w.labels()[t] == EncodedExample.IGNORE) continue;
                        assertEquals(w.ids()[t], w.labels()[t]);
                        assertTrue(t > 0, "a window's first token is never a target");
                        timesTrained[start + t]++;
                    }
                }
                assertEquals(0, indexOf(tokens, windows.get(0).ids()), "the first window starts the document");
                assertEquals(tokens.length - 16, indexOf(tokens, windows.get(windows.size() - 1).ids()), "the last window ends the document");
                assertEquals(0, timesTrained[0], "the document's first token has nothing before it");
                for (int i = 1; i < tokens.length; i++) assertEquals(1, timesTrained[i], "stride " + stride + ", token " + i + " of " + tokens.length);
            }
            var shortDoc = new TextWindows(tok, 512, 0, false).windows(doc);
            assertEquals(1, shortDoc.size());
            assertArrayEquals(tokens, shortDoc.get(0).ids(), "a document shorter than max_seq_len is one window");
        }
    }

    private static int indexOf(int[] haystack, int[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) if (haystack[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }

    @Test
    void aPathHeaderNamesTheFileBeforeItsText() throws IOException {
        try (TokenizerFiles tok = TokenizerFiles.load(TestTokenizers.chatml(dir))) {
            var doc = new TextDocuments.Document("src/main/Trainer.java", dir.resolve("x"), "class Trainer {}");
            var windows = new TextWindows(tok, 512, 0, true).windows(doc);
            assertEquals(1, windows.size());
            assertEquals("File: src/main/Trainer.java\n\nclass Trainer {}<|endoftext|>", tok.decode(windows.get(0).ids()));
            assertThrows(IllegalArgumentException.class, () -> new TextWindows(tok, 16, 16, false), "a stride must leave new tokens");
        }
    }

    @Test
    void aDataCheckOfATextSourceWarnsAboutSkippedFilesAndFailsOnlyWhenNothingIsReadable() throws IOException {
        Path root = repository();
        DatasetCheck.Report report = DatasetCheck.text(root, List.of("target"), 1_000);
        assertTrue(report.ok(), report.errors().toString());
        assertEquals(2, report.examples());
        assertEquals(4, report.warnings().size(), report.warnings().toString());
        assertTrue(report.warnings().stream().anyMatch(w -> w.contains("skipped as binary") && w.contains("logo.png")), report.warnings().toString());
        DatasetCheck.Report nothing = DatasetCheck.text(root.resolve("logo.png"), List.of(), 1_000);
        assertEquals(1, nothing.errors().size());
        assertTrue(nothing.errors().get(0).contains("no readable text file (1 binary skipped)"), nothing.errors().toString());
    }

    @Test
    void markdownGivenAsQaPointsToTheTextFormat() throws IOException {
        Path notes = Files.writeString(dir.resolve("notes.md"), "# Notes\n\nThe trainer trains.\n");
        List<String> problems = new ArrayList<>();
        DatasetReader.scan(notes, DatasetFormat.AUTO, null, null, new DatasetReader.Sink() {
            @Override public void example(Example e) {}

            @Override public void problem(String message) { problems.add(message); }
        });
        assertEquals(1, problems.size(), "one line, not one per line of Markdown");
        assertTrue(problems.get(0).startsWith(notes + ":1: not JSON Q&A records") && problems.get(0).contains("format: text"), problems.get(0));
        assertEquals(DatasetFormat.TEXT, DatasetFormat.parse("completion"));
    }

    private static int[] append(int[] a, int x) {
        int[] out = Arrays.copyOf(a, a.length + 1);
        out[a.length] = x;
        return out;
    }
}
