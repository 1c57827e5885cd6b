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
    void windowsCoverTheDocumentOnceEndWithTheEndOfTextTokenAndTrainEveryTokenOnce() throws IOException {
        try (TokenizerFiles tok = TokenizerFiles.load(TestTokenizers.chatml(dir))) {
            String text = "What does the trainer do? It trains LoRA adapters on a base model. ".repeat(6);
            var doc = new TextDocuments.Document("docs/trainer.md", dir.resolve("trainer.md"), text);
            int[] body = tok.encode(text);
            int end = tok.documentEndId();
            assertEquals(tok.tokenId("<|endoftext|>"), end, "the pretraining separator, not ChatML's end of turn");

            List<EncodedExample> plain = new TextWindows(tok, 16, 0, false).windows(doc);
            int[] joined = concat(plain.stream().map(EncodedExample::ids).toList());
            assertArrayEquals(append(body, end), joined, "no stride: the windows are the document cut in pieces");
            assertTrue(plain.stream().limit(plain.size() - 1).allMatch(w -> w.ids().length == 16));
            for (EncodedExample w : plain) {
                assertEquals(EncodedExample.IGNORE, w.labels()[0], "a window's first token has nothing to be predicted from");
                for (int t = 1; t < w.ids().length; t++) assertEquals(w.ids()[t], w.labels()[t]);
            }

            List<EncodedExample> strided = new TextWindows(tok, 16, 4, false).windows(doc);
            assertTrue(strided.size() > plain.size());
            int trained = 0;
            List<Integer> rebuilt = new ArrayList<>();
            for (int k = 0; k < strided.size(); k++) {
                EncodedExample w = strided.get(k);
                int repeated = k == 0 ? 0 : 4;
                if (k > 0) {
                    int[] previous = strided.get(k - 1).ids();
                    assertArrayEquals(Arrays.copyOfRange(previous, previous.length - 4, previous.length), Arrays.copyOf(w.ids(), 4),
                            "each window starts with the last stride tokens of the one before");
                }
                for (int t = repeated; t < w.ids().length; t++) rebuilt.add(w.ids()[t]);
                trained += w.trainedTokens();
            }
            assertArrayEquals(append(body, end), rebuilt.stream().mapToInt(Integer::intValue).toArray());
            assertEquals(body.length, trained, "every token but the document's first carries loss exactly once");
        }
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

    private static int[] concat(List<int[]> parts) {
        return parts.stream().flatMapToInt(Arrays::stream).toArray();
    }
}
