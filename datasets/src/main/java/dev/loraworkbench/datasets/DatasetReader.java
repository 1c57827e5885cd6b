package dev.loraworkbench.datasets;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;

/**
 * Reads Q&A data into {@link Example}s. JSONL: one object per line with question/answer,
 * prompt/completion or messages; CSV/TSV with a header row and the columns named in {@link CsvColumns}.
 * Every problem names the file and line (or CSV record) so it can be fixed.
 */
public final class DatasetReader {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> ROLES = Set.of("system", "user", "assistant");

    private DatasetReader() {}

    public static List<Example> read(Path file, DatasetFormat format, CsvColumns columns, String systemPrompt) {
        if (!Files.isRegularFile(file)) {
            throw new DatasetException(file + ": dataset file not found (check dataset.path in the recipe)");
        }
        DatasetFormat resolved = format == DatasetFormat.AUTO ? detectByExtension(file) : format;
        List<Example> examples = resolved == DatasetFormat.CSV
                ? readCsv(file, columns == null ? CsvColumns.DEFAULT : columns)
                : readJsonl(file, resolved);
        if (examples.isEmpty()) throw new DatasetException(file + ": no examples found");
        if (systemPrompt == null || systemPrompt.isBlank()) return examples;
        List<Example> withSystem = new ArrayList<>(examples.size());
        for (Example e : examples) {
            if (e.messages().get(0).role().equals("system")) { withSystem.add(e); continue; }
            List<Message> m = new ArrayList<>();
            m.add(Message.system(systemPrompt));
            m.addAll(e.messages());
            withSystem.add(new Example(m, e.source()));
        }
        return withSystem;
    }

    private static DatasetFormat detectByExtension(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".csv") || name.endsWith(".tsv") ? DatasetFormat.CSV : DatasetFormat.AUTO;
    }

    private static BufferedReader strictUtf8(Path file) throws IOException {
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        return new BufferedReader(new java.io.InputStreamReader(Files.newInputStream(file), decoder));
    }

    private static List<Example> readJsonl(Path file, DatasetFormat format) {
        List<Example> out = new ArrayList<>();
        int lineNo = 0;
        try (BufferedReader reader = strictUtf8(file)) {
            String line;
            while ((line = reader.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) continue;
                String where = file + ":" + lineNo;
                JsonNode node;
                try {
                    node = JSON.readTree(line);
                } catch (JsonProcessingException e) {
                    throw new DatasetException(where + ": malformed JSON (" + e.getOriginalMessage()
                            + "); each line must be one JSON object");
                }
                if (node == null || !node.isObject()) {
                    throw new DatasetException(where + ": expected a JSON object, found " + (node == null ? "nothing" : node.getNodeType()));
                }
                out.add(new Example(toMessages(node, format, where), where));
            }
        } catch (CharacterCodingException e) {
            throw new DatasetException(file + ":" + (lineNo + 1) + ": not valid UTF-8; re-encode the file as UTF-8");
        } catch (NoSuchFileException e) {
            throw new DatasetException(file + ": dataset file not found");
        } catch (IOException e) {
            throw new DatasetException(file + ": cannot read (" + e.getMessage() + ")");
        }
        return out;
    }

    static List<Message> toMessages(JsonNode node, DatasetFormat format, String where) {
        DatasetFormat f = format == DatasetFormat.AUTO ? detect(node, where) : format;
        return switch (f) {
            case QA -> List.of(Message.user(text(node, "question", where)), Message.assistant(text(node, "answer", where)));
            case PROMPT_COMPLETION -> List.of(Message.user(text(node, "prompt", where)), Message.assistant(text(node, "completion", where)));
            case MESSAGES -> messages(node, where);
            case AUTO, CSV -> throw new DatasetException(where + ": format " + f + " is not a JSON format");
        };
    }

    private static DatasetFormat detect(JsonNode node, String where) {
        if (node.has("messages")) return DatasetFormat.MESSAGES;
        if (node.has("question") || node.has("answer")) return DatasetFormat.QA;
        if (node.has("prompt") || node.has("completion")) return DatasetFormat.PROMPT_COMPLETION;
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        throw new DatasetException(where + ": cannot tell the format from fields " + names
                + "; expected question/answer, prompt/completion or messages");
    }

    private static String text(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) throw new DatasetException(where + ": field '" + field + "' is missing");
        if (!v.isTextual()) throw new DatasetException(where + ": field '" + field + "' must be a string, found " + v.getNodeType());
        if (v.asText().isBlank()) throw new DatasetException(where + ": field '" + field + "' is empty");
        return v.asText();
    }

    private static List<Message> messages(JsonNode node, String where) {
        JsonNode arr = node.get("messages");
        if (arr == null || !arr.isArray() || arr.isEmpty()) {
            throw new DatasetException(where + ": field 'messages' must be a non-empty array of {role, content}");
        }
        List<Message> out = new ArrayList<>();
        for (int i = 0; i < arr.size(); i++) {
            String at = where + ": messages[" + i + "]";
            JsonNode m = arr.get(i);
            if (!m.isObject()) throw new DatasetException(at + ": expected an object with role and content");
            String role = text(m, "role", at);
            if (!ROLES.contains(role)) throw new DatasetException(at + ": unknown role '" + role + "', expected one of system, user, assistant");
            if (role.equals("system") && i != 0) throw new DatasetException(at + ": a system message may only come first");
            out.add(new Message(role, text(m, "content", at)));
        }
        if (!out.get(out.size() - 1).role().equals("assistant")) {
            throw new DatasetException(where + ": the last message must be from the assistant (it is what the model learns)");
        }
        String previous = "";
        for (int i = 0; i < out.size(); i++) {
            String role = out.get(i).role();
            if (role.equals(previous) && !role.equals("system")) {
                throw new DatasetException(where + ": messages[" + i + "]: two '" + role + "' turns in a row; user and assistant must alternate");
            }
            if (role.equals("assistant") && !previous.equals("user")) {
                throw new DatasetException(where + ": messages[" + i + "]: an assistant turn must follow a user turn");
            }
            previous = role;
        }
        return out;
    }

    private static List<Example> readCsv(Path file, CsvColumns columns) {
        boolean tsv = file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".tsv");
        CSVFormat fmt = (tsv ? CSVFormat.TDF : CSVFormat.RFC4180).builder()
                .setHeader().setSkipHeaderRecord(true).setIgnoreEmptyLines(true).get();
        List<Example> out = new ArrayList<>();
        try (Reader reader = strictUtf8(file); CSVParser parser = CSVParser.parse(reader, fmt)) {
            for (String col : List.of(columns.prompt(), columns.completion())) {
                if (!parser.getHeaderMap().containsKey(col)) {
                    throw new DatasetException(file + ":1: CSV header has no column '" + col + "' (columns: "
                            + parser.getHeaderNames() + "); set dataset.prompt_column / dataset.completion_column");
                }
            }
            for (CSVRecord record : parser) {
                String where = file + ": record " + record.getRecordNumber() + " (line " + record.getParser().getCurrentLineNumber() + ")";
                if (!record.isConsistent()) throw new DatasetException(where + ": expected " + parser.getHeaderNames().size() + " fields, found " + record.size());
                String q = record.get(columns.prompt());
                String a = record.get(columns.completion());
                if (q.isBlank()) throw new DatasetException(where + ": column '" + columns.prompt() + "' is empty");
                if (a.isBlank()) throw new DatasetException(where + ": column '" + columns.completion() + "' is empty");
                out.add(new Example(List.of(Message.user(q), Message.assistant(a)), where));
            }
        } catch (java.io.UncheckedIOException e) {
            throw new DatasetException(file + ": cannot parse CSV (" + e.getCause().getMessage() + ")");
        } catch (CharacterCodingException e) {
            throw new DatasetException(file + ": not valid UTF-8; re-encode the file as UTF-8");
        } catch (IOException e) {
            throw new DatasetException(file + ": cannot read CSV (" + e.getMessage() + ")");
        }
        return out;
    }
}
