package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
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
