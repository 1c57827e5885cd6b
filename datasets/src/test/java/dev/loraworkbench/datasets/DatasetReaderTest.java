package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetReaderTest {
    @TempDir Path dir;

    private Path file(String name, String content) throws Exception {
        return Files.writeString(dir.resolve(name), content);
    }

    private String error(Path p, DatasetFormat f) {
        return assertThrows(DatasetException.class, () -> DatasetReader.read(p, f, null, null)).getMessage();
    }

    @Test
    void readsEveryJsonlShapeWithAutoDetection() throws Exception {
        Path p = file("mixed.jsonl", """
                {"question": "q1", "answer": "a1"}
                {"prompt": "q2", "completion": "a2"}

                {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q3"}, {"role": "assistant", "content": "a3"}]}
                """);
        List<Example> ex = DatasetReader.read(p, DatasetFormat.AUTO, null, null);
        assertEquals(3, ex.size());
        assertEquals(List.of(Message.user("q1"), Message.assistant("a1")), ex.get(0).messages());
        assertEquals(List.of(Message.user("q2"), Message.assistant("a2")), ex.get(1).messages());
        assertEquals(Message.system("s"), ex.get(2).messages().get(0));
        assertEquals(p + ":4", ex.get(2).source());
    }

    @Test
    void alpacaShareGptAndJsonArrays() throws Exception {
        Path alpaca = file("alpaca.jsonl", """
                {"instruction": "Summarise", "input": "LoRA adds low-rank updates.", "output": "Low-rank updates."}
                {"instruction": "Say hi", "input": "", "output": "Hi"}
                """);
        List<Example> a = DatasetReader.read(alpaca, DatasetFormat.AUTO, null, null);
        assertEquals(List.of(Message.user("Summarise\n\nLoRA adds low-rank updates."), Message.assistant("Low-rank updates.")), a.get(0).messages());
        assertEquals(Message.user("Say hi"), a.get(1).messages().get(0));

        Path share = file("share.jsonl", "{\"conversations\": [{\"from\": \"system\", \"value\": \"s\"}, {\"from\": \"human\", \"value\": \"q\"}, "
                + "{\"from\": \"gpt\", \"value\": \"a\"}]}\n");
        assertEquals(List.of(Message.system("s"), Message.user("q"), Message.assistant("a")),
                DatasetReader.read(share, DatasetFormat.AUTO, null, null).get(0).messages());

        Path array = file("array.json", """
                [
                  {"question": "q1", "answer": "a1"},
                  {"prompt": "q2",
                   "completion": "a2"},
                  {"question": "q3"}
                ]
                """);
        List<String> problems = new ArrayList<>();
        List<Example> got = new ArrayList<>();
        DatasetReader.scan(array, DatasetFormat.AUTO, null, null, sink(got, problems));
        assertEquals(2, got.size());
        assertEquals(array + ":3", got.get(1).source());
        assertEquals(List.of(array + ":5: field 'answer' is missing"), problems);
    }

    @Test
    void globReadsEveryMatchingFileInOrder() throws Exception {
        file("part-2.jsonl", "{\"question\": \"q2\", \"answer\": \"a2\"}\n");
        file("part-1.jsonl", "{\"question\": \"q1\", \"answer\": \"a1\"}\n");
        file("other.txt", "not data");
        List<Example> ex = DatasetReader.read(dir.resolve("part-*.jsonl"), DatasetFormat.AUTO, null, null);
        assertEquals(List.of("q1", "q2"), ex.stream().map(e -> e.messages().get(0).content()).toList());
        assertTrue(error(dir.resolve("none-*.jsonl"), DatasetFormat.AUTO).contains("no file matches"));
    }

    @Test
    void scanReportsEveryProblemAndKeepsGoing() throws Exception {
        Path p = file("mixed.jsonl", "{\"question\": \"q\", \"answer\": \"a\"}\n{broken\n{\"question\": \"\", \"answer\": \"a\"}\n"
                + "{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}\n{\"question\": \"q4\", \"answer\": \"a4\"}\n");
        List<String> problems = new ArrayList<>();
        List<Example> got = new ArrayList<>();
        DatasetReader.scan(p, DatasetFormat.AUTO, null, null, sink(got, problems));
        assertEquals(2, got.size());
        assertEquals(3, problems.size(), problems.toString());
        assertTrue(problems.get(0).startsWith(p + ":2: malformed JSON"), problems.get(0));
        assertEquals(p + ":3: field 'question' is empty", problems.get(1));
        assertTrue(problems.get(2).startsWith(p + ":4: messages[0]: an assistant turn must follow a user turn"), problems.get(2));
    }

    private static DatasetReader.Sink sink(List<Example> examples, List<String> problems) {
        return new DatasetReader.Sink() {
            @Override public void example(Example e) { examples.add(e); }

            @Override public void problem(String message) { problems.add(message); }
        };
    }

    @Test
    void csvWithoutAHeaderUsesColumnNumbers() throws Exception {
        Path p = file("nohead.tsv", "1\tWhat is r?\tThe LoRA rank.\n2\tWhat is alpha?\tThe LoRA scale numerator.\n");
        List<Example> ex = DatasetReader.read(p, DatasetFormat.AUTO, new CsvColumns("1", "2", false), null);
        assertEquals(List.of(Message.user("What is alpha?"), Message.assistant("The LoRA scale numerator.")), ex.get(1).messages());
        String err = assertThrows(DatasetException.class, () -> DatasetReader.read(p, DatasetFormat.CSV, new CsvColumns("q", "a", false), null)).getMessage();
        assertTrue(err.contains("must be 0-based column numbers"), err);
    }

    @Test
    void readListsEveryProblemAtOnce() throws Exception {
        Path p = file("two.jsonl", "{\"question\": \"q\"}\n{\"question\": \"q\", \"answer\": \"a\"}\n{\"answer\": \"a\"}\n");
        assertEquals(p + ":1: field 'answer' is missing\n" + p + ":3: field 'question' is missing", error(p, DatasetFormat.QA));
    }

    @Test
    void systemPromptIsAddedToExamplesWithoutOne() throws Exception {
        Path p = file("qa.jsonl", "{\"question\": \"q\", \"answer\": \"a\"}\n");
        assertEquals(Message.system("Be brief."), DatasetReader.read(p, DatasetFormat.QA, null, "Be brief.").get(0).messages().get(0));
    }

    @Test
    void errorsNameFileLineAndField() throws Exception {
        Path bad = file("bad.jsonl", "{\"question\": \"q\", \"answer\": \"a\"}\n{\"question\": \"q\", \"answer\": }\n");
        assertTrue(error(bad, DatasetFormat.AUTO).startsWith(bad + ":2: malformed JSON"), error(bad, DatasetFormat.AUTO));
        Path missing = file("missing.jsonl", "{\"question\": \"q\"}\n");
        assertEquals(missing + ":1: field 'answer' is missing", error(missing, DatasetFormat.QA));
        Path empty = file("empty.jsonl", "{\"question\": \"q\", \"answer\": \"  \"}\n");
        assertEquals(empty + ":1: field 'answer' is empty", error(empty, DatasetFormat.QA));
        Path order = file("order.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"c\"}]}\n");
        assertTrue(error(order, DatasetFormat.AUTO).contains("two 'user' turns in a row"), error(order, DatasetFormat.AUTO));
        Path unknown = file("unknown.jsonl", "{\"q\": \"a\"}\n");
        assertTrue(error(unknown, DatasetFormat.AUTO).contains("cannot tell the format from fields [q]"));
        Path notUtf8 = dir.resolve("latin1.jsonl");
        Files.write(notUtf8, new byte[] {'{', '"', 'q', '"', ':', '"', (byte) 0xE9, '"', '}', '\n'});
        assertTrue(error(notUtf8, DatasetFormat.AUTO).contains("not valid UTF-8"));
        assertTrue(error(dir.resolve("nope.jsonl"), DatasetFormat.AUTO).contains("not found"));
    }

    /** A decoder reading ahead blamed line 1 and dropped every line after the bad one; now only the bad line is reported and skipped. */
    @Test
    void aLineThatIsNotUtf8IsReportedWithItsOwnNumberAndTheOthersStillCount() throws Exception {
        Path mixed = dir.resolve("mixed.jsonl");
        byte[] good = "{\"question\": \"q\", \"answer\": \"a\"}\n".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] latin1 = {'{', '"', 'q', 'u', 'e', 's', 't', 'i', 'o', 'n', '"', ':', '"', 'c', 'a', 'f', (byte) 0xE9, '"', '}', '\n'};
        java.io.ByteArrayOutputStream content = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < 2000; i++) content.write(good); // more than one read-ahead buffer before the bad line
        content.write(latin1);
        content.write(good);
        Files.write(mixed, content.toByteArray());
        List<Example> examples = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        DatasetReader.scan(mixed, DatasetFormat.AUTO, null, null, new DatasetReader.Sink() {
            @Override public void example(Example e) { examples.add(e); }

            @Override public void problem(String message) { problems.add(message); }
        });
        assertEquals(List.of(mixed + ":2001: not valid UTF-8; re-encode the file as UTF-8 (this line is skipped)"), problems);
        assertEquals(2001, examples.size());
        assertEquals(mixed + ":2002", examples.get(2000).source());
    }

    @Test
    void csvErrorsNameFileAndLineLikeEveryOtherFormat() throws Exception {
        Path csv = file("gaps.csv", "question,answer\nWhat?,Yes.\nEmpty?,\n\"Multi\nline\",\"\"\n");
        List<String> problems = new ArrayList<>();
        DatasetReader.scan(csv, DatasetFormat.AUTO, CsvColumns.DEFAULT, null, new DatasetReader.Sink() {
            @Override public void example(Example e) {}

            @Override public void problem(String message) { problems.add(message); }
        });
        assertEquals(List.of(csv + ":3: record 2: column 'answer' is empty", csv + ":4: record 3: column 'answer' is empty"), problems);
    }

    @Test
    void csvWithNamedColumnsQuotingAndMultiLineFields() throws Exception {
        Path p = file("qa.csv", "id,q,a\n1,\"What, exactly?\",\"Line one\nline two\"\n2,Plain,\"Said \"\"hi\"\"\"\n");
        List<Example> ex = DatasetReader.read(p, DatasetFormat.AUTO, new CsvColumns("q", "a"), null);
        assertEquals(2, ex.size());
        assertEquals(List.of(Message.user("What, exactly?"), Message.assistant("Line one\nline two")), ex.get(0).messages());
        assertEquals("Said \"hi\"", ex.get(1).messages().get(1).content());
        String err = assertThrows(DatasetException.class, () -> DatasetReader.read(p, DatasetFormat.CSV, CsvColumns.DEFAULT, null)).getMessage();
        assertTrue(err.contains("no column 'question'") && err.contains("[id, q, a]"), err);
    }
}
