package dev.loraworkbench.datasets;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;

/**
 * Reads Q&A data into {@link Example}s, streaming record by record (a 1 GB file needs no more memory than
 * its largest record). JSONL or JSON arrays of question/answer, prompt/completion, alpaca, messages or
 * ShareGPT records; CSV/TSV with a header and the columns named in {@link CsvColumns}. A path with a glob
 * ({@code data/*.jsonl}) reads every match in name order. Every problem names the file and line (or CSV
 * record) and the field.
 */
public final class DatasetReader {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> ROLES = Set.of("system", "user", "assistant");
    private static final Map<String, String> SHAREGPT_ROLES = Map.of("system", "system", "human", "user", "user", "user", "gpt", "assistant", "assistant", "assistant");

    /** Receives each example or problem as the files are scanned. */
    public interface Sink {
        void example(Example example);

        /** A record that cannot be used; {@code message} starts with "file:line: ". */
        void problem(String message);

        /** The layout a usable record was read as (detected under {@code format: auto}). */
        default void format(DatasetFormat format) {}
    }

    private DatasetReader() {}

    /** All examples; any problem ends the read with a {@link DatasetException} listing them (the first 20). */
    public static List<Example> read(Path path, DatasetFormat format, CsvColumns columns, String systemPrompt) {
        List<Example> out = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        scan(path, format, columns, systemPrompt, new Sink() {
            @Override public void example(Example e) { out.add(e); }

            @Override public void problem(String message) { problems.add(message); }
        });
        if (!problems.isEmpty()) {
            String listed = String.join("\n", problems.subList(0, Math.min(20, problems.size())));
            throw new DatasetException(problems.size() <= 20 ? listed
                    : listed + "\n... and " + (problems.size() - 20) + " more problems (./workbench data check lists them all)");
        }
        if (out.isEmpty()) throw new DatasetException(path + ": no examples found");
        return out;
    }

    /** Every example and every problem, in file order, without stopping at problems (for data check). */
    public static void scan(Path path, DatasetFormat format, CsvColumns columns, String systemPrompt, Sink sink) {
        Sink withSystem = systemPrompt == null || systemPrompt.isBlank() ? sink : new Sink() {
            @Override public void example(Example e) {
                if (e.messages().get(0).role().equals("system")) { sink.example(e); return; }
                List<Message> m = new ArrayList<>();
                m.add(Message.system(systemPrompt));
                m.addAll(e.messages());
                sink.example(new Example(m, e.source()));
            }

            @Override public void problem(String message) { sink.problem(message); }
        };
        for (Path file : expand(path)) {
            String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
            boolean csv = format == DatasetFormat.CSV || (format == DatasetFormat.AUTO && (name.endsWith(".csv") || name.endsWith(".tsv")));
            if (csv) readCsv(file, columns == null ? CsvColumns.DEFAULT : columns, withSystem);
            else readJson(file, format, withSystem);
        }
    }

    /** SHA-256 over the bytes of every file the path (or glob) names, in name order: the data's identity for resume. */
    public static String sha256(Path path) {
        try {
            Sha256 hash = Sha256.start();
            for (Path file : expand(path)) hash.addFile(file);
            return hash.hex();
        } catch (IOException e) {
            throw new DatasetException(path + ": cannot read (" + e.getMessage() + ")");
        }
    }

    /** The file itself, or the files a glob in its last part matches (sorted); none is an error. */
    static List<Path> expand(Path path) {
        String last = path.getFileName() == null ? "" : path.getFileName().toString();
        if (!last.matches(".*[*?\\[{].*")) {
            if (!Files.isRegularFile(path)) throw new DatasetException(path + ": dataset file not found (check dataset.path in the recipe)");
            return List.of(path);
        }
        Path dir = path.toAbsolutePath().getParent();
        PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + last);
        List<Path> files;
        try (Stream<Path> s = Files.isDirectory(dir) ? Files.list(dir) : Stream.empty()) {
            files = s.filter(p -> Files.isRegularFile(p) && matcher.matches(p.getFileName())).sorted().toList();
        } catch (IOException e) {
            throw new DatasetException(dir + ": cannot list (" + e.getMessage() + ")");
        }
        if (files.isEmpty()) throw new DatasetException(path + ": no file matches this pattern");
        return files;
    }

    private static Reader strictUtf8(Path file) throws IOException {
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        return new BufferedReader(new InputStreamReader(Files.newInputStream(file), decoder), 1 << 16);
    }

    /** JSONL, or a JSON array of records (the first non-blank character decides). */
    private static void readJson(Path file, DatasetFormat format, Sink sink) {
        int first;
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
            first = firstNonBlank(in);
        } catch (IOException e) {
            sink.problem(file + ": cannot read (" + e.getMessage() + ")");
            return;
        }
        if (first == -1) return;
        if (first == '[') {
            try (Reader in = strictUtf8(file)) {
                readJsonArray(file, format, in, sink);
            } catch (IOException e) {
                sink.problem(file + ":1: cannot read (" + e.getMessage() + ")");
            }
        } else if (first != '{') {
            // Markdown or code given as Q&A: one clear line instead of a malformed-JSON error per line
            sink.problem(file + ":1: not JSON Q&A records (starts with '" + Character.toString(first) + "'); to train on code or docs as "
                    + "plain text, give this source format: text");
        } else {
            readJsonLines(file, format, sink);
        }
    }

    /** The first byte that is not whitespace (a UTF-8 byte-order mark skipped), or -1 for a blank file. */
    private static int firstNonBlank(InputStream in) throws IOException {
        int b;
        while ((b = in.read()) != -1) {
            if (b == 0xEF || b == 0xBB || b == 0xBF || Character.isWhitespace(b)) continue;
            return b;
        }
        return -1;
    }

    /**
     * One record per line, each line decoded on its own: a line that is not UTF-8 is reported with its own number and
     * the lines around it still count (a decoder reading ahead would blame line 1 and lose the rest of the file).
     */
    private static void readJsonLines(Path file, DatasetFormat format, Sink sink) {
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            int lineNo = 0;
            for (int b = in.read(); ; b = in.read()) {
                if (b != '\n' && b != -1) {
                    bytes.write(b);
                    continue;
                }
                if (b == -1 && bytes.size() == 0) return;
                lineNo++;
                String where = file + ":" + lineNo;
                String line;
                try {
                    line = decoder.decode(java.nio.ByteBuffer.wrap(bytes.toByteArray())).toString();
                } catch (CharacterCodingException e) {
                    sink.problem(where + ": not valid UTF-8; re-encode the file as UTF-8 (this line is skipped)");
                    line = "";
                }
                bytes.reset();
                if (lineNo == 1 && line.startsWith("\uFEFF")) line = line.substring(1);
                if (!line.isBlank()) {
                    try {
                        record(JSON.readTree(line), format, where, sink);
                    } catch (JsonProcessingException e) {
                        sink.problem(where + ": malformed JSON (" + JsonProblems.message(e) + "); each line must be one JSON object");
                    }
                }
                if (b == -1) return;
            }
        } catch (IOException e) {
            sink.problem(file + ": cannot read (" + e.getMessage() + ")");
        }
    }

    private static void readJsonArray(Path file, DatasetFormat format, Reader in, Sink sink) throws IOException {
        int line = 1; // where the record being read starts: a limit (nesting depth) is reported without a location
        try (JsonParser p = JSON.getFactory().createParser(in)) {
            p.nextToken(); // [
            JsonToken t;
            while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                if (t == null) {
                    sink.problem(file + ":" + line + ": the JSON array is not closed (truncated file?)");
                    return;
                }
                line = p.currentTokenLocation().getLineNr();
                record(JSON.readTree(p), format, file + ":" + line, sink);
            }
        } catch (JsonProcessingException e) {
            sink.problem(file + ":" + (e.getLocation() == null ? line : e.getLocation().getLineNr()) + ": malformed JSON (" + JsonProblems.message(e) + ")");
        } catch (CharacterCodingException e) {
            sink.problem(file + ":" + line + ": not valid UTF-8 (in the record starting here or the next); re-encode the file as UTF-8");
        }
    }

    private static void record(JsonNode node, DatasetFormat format, String where, Sink sink) {
        if (node == null || !node.isObject()) {
            sink.problem(where + ": expected a JSON object, found " + (node == null ? "nothing" : node.getNodeType()));
            return;
        }
        try {
            DatasetFormat f = format == DatasetFormat.AUTO ? detect(node, where) : format;
            Example e = new Example(toMessages(node, f, where), where);
            sink.format(f);
            sink.example(e);
        } catch (DatasetException e) {
            sink.problem(e.getMessage());
        }
    }

    static List<Message> toMessages(JsonNode node, DatasetFormat format, String where) {
        DatasetFormat f = format == DatasetFormat.AUTO ? detect(node, where) : format;
        return switch (f) {
            case QA -> List.of(Message.user(text(node, "question", where)), Message.assistant(text(node, "answer", where)));
            case PROMPT_COMPLETION -> List.of(Message.user(text(node, "prompt", where)), Message.assistant(text(node, "completion", where)));
            case ALPACA -> alpaca(node, where);
            case MESSAGES -> conversation(node, "messages", "role", "content", Map.of("system", "system", "user", "user", "assistant", "assistant"), where);
            case SHAREGPT -> conversation(node, "conversations", "from", "value", SHAREGPT_ROLES, where);
            case AUTO, CSV, TEXT -> throw new DatasetException(where + ": format " + f + " is not a JSON format");
        };
    }

    private static DatasetFormat detect(JsonNode node, String where) {
        if (node.has("messages")) return DatasetFormat.MESSAGES;
        if (node.has("conversations")) return DatasetFormat.SHAREGPT;
        if (node.has("instruction") || node.has("output")) return DatasetFormat.ALPACA;
        if (node.has("question") || node.has("answer")) return DatasetFormat.QA;
        if (node.has("prompt") || node.has("completion")) return DatasetFormat.PROMPT_COMPLETION;
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        throw new DatasetException(where + ": cannot tell the format from fields " + names
                + "; expected question/answer, prompt/completion, instruction/input/output, messages or conversations");
    }

    private static String text(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) throw new DatasetException(where + ": field '" + field + "' is missing");
        if (!v.isTextual()) throw new DatasetException(where + ": field '" + field + "' must be a string, found " + v.getNodeType());
        if (v.asText().isBlank()) throw new DatasetException(where + ": field '" + field + "' is empty");
        return v.asText();
    }

    /** Alpaca: the instruction, then the optional input after a blank line, as the user turn. */
    private static List<Message> alpaca(JsonNode node, String where) {
        String instruction = text(node, "instruction", where);
        JsonNode input = node.get("input");
        if (input != null && !input.isNull() && !input.isTextual()) throw new DatasetException(where + ": field 'input' must be a string");
        String user = input == null || input.isNull() || input.asText().isBlank() ? instruction : instruction + "\n\n" + input.asText();
        return List.of(Message.user(user), Message.assistant(text(node, "output", where)));
    }

    private static List<Message> conversation(JsonNode node, String field, String roleKey, String contentKey, Map<String, String> roles, String where) {
        JsonNode arr = node.get(field);
        if (arr == null || !arr.isArray() || arr.isEmpty()) {
            throw new DatasetException(where + ": field '" + field + "' must be a non-empty array of {" + roleKey + ", " + contentKey + "}");
        }
        List<Message> out = new ArrayList<>();
        for (int i = 0; i < arr.size(); i++) {
            String at = where + ": " + field + "[" + i + "]";
            JsonNode m = arr.get(i);
            if (!m.isObject()) throw new DatasetException(at + ": expected an object with " + roleKey + " and " + contentKey);
            String role = roles.get(text(m, roleKey, at));
            if (role == null) throw new DatasetException(at + ": unknown " + roleKey + " '" + m.get(roleKey).asText() + "', expected one of " + roles.keySet());
            if (role.equals("system") && i != 0) throw new DatasetException(at + ": a system message may only come first");
            out.add(new Message(role, text(m, contentKey, at)));
        }
        if (!out.get(out.size() - 1).role().equals("assistant")) {
            throw new DatasetException(where + ": the last turn must be the assistant's (it is what the model learns)");
        }
        String previous = "";
        for (int i = 0; i < out.size(); i++) {
            String role = out.get(i).role();
            if (role.equals(previous)) {
                throw new DatasetException(where + ": " + field + "[" + i + "]: two '" + role + "' turns in a row; user and assistant must alternate");
            }
            if (role.equals("assistant") && !previous.equals("user")) {
                throw new DatasetException(where + ": " + field + "[" + i + "]: an assistant turn must follow a user turn");
            }
            previous = role;
        }
        return out;
    }

    /** commons-csv says where as "(startline N)" or "(line N)" inside its message: file:line: as every other data problem. */
    private static String csvProblem(Path file, String message) {
        String why = String.valueOf(message);
        java.util.regex.Matcher at = java.util.regex.Pattern.compile("\\((?:start)?line (\\d+)\\)\\s*").matcher(why);
        String hint = why.contains("EOF reached before encapsulated token finished") ? "; a quote opened here is never closed" : "";
        return at.find() ? file + ":" + at.group(1) + ": cannot parse CSV (" + at.replaceFirst("").trim() + hint + ")"
                : file + ":1: cannot parse CSV (" + why + ")";
    }

    private static void readCsv(Path file, CsvColumns columns, Sink sink) {
        boolean tsv = file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".tsv");
        CSVFormat.Builder builder = (tsv ? CSVFormat.TDF : CSVFormat.RFC4180).builder().setIgnoreEmptyLines(true);
        if (columns.header()) builder.setHeader().setSkipHeaderRecord(true);
        int promptIndex = -1, completionIndex = -1;
        if (!columns.header()) {
            try {
                promptIndex = Integer.parseInt(columns.prompt());
                completionIndex = Integer.parseInt(columns.completion());
            } catch (NumberFormatException e) {
                sink.problem(file + ": without a header row, dataset.prompt_column and dataset.completion_column must be "
                        + "0-based column numbers, found '" + columns.prompt() + "' and '" + columns.completion() + "'");
                return;
            }
        }
        long[] lastLine = {1}; // the line reached so far: where an encoding error is reported
        try (Reader reader = strictUtf8(file); CSVParser parser = CSVParser.parse(reader, builder.get())) {
            for (String col : columns.header() ? List.of(columns.prompt(), columns.completion()) : List.<String>of()) {
                if (!parser.getHeaderMap().containsKey(col)) {
                    sink.problem(file + ":1: CSV header has no column '" + col + "' (columns: "
                            + parser.getHeaderNames() + "); set dataset.prompt_column / dataset.completion_column");
                    return;
                }
            }
            long endOfPrevious = parser.getCurrentLineNumber(); // the header's line, or 0
            for (CSVRecord record : parser) {
                // file:line as every other data error, the line the record starts on (a quoted field may span several)
                String where = file + ":" + (endOfPrevious + 1) + ": record " + record.getRecordNumber();
                endOfPrevious = parser.getCurrentLineNumber();
                lastLine[0] = endOfPrevious + 1;
                if (columns.header() && !record.isConsistent()) {
                    sink.problem(where + ": expected " + parser.getHeaderNames().size() + " fields, found " + record.size());
                    continue;
                }
                if (!columns.header() && record.size() <= Math.max(promptIndex, completionIndex)) {
                    sink.problem(where + ": has " + record.size() + " fields, needs column " + Math.max(promptIndex, completionIndex));
                    continue;
                }
                String q = columns.header() ? record.get(columns.prompt()) : record.get(promptIndex);
                String a = columns.header() ? record.get(columns.completion()) : record.get(completionIndex);
                if (q.isBlank()) sink.problem(where + ": column '" + columns.prompt() + "' is empty");
                else if (a.isBlank()) sink.problem(where + ": column '" + columns.completion() + "' is empty");
                else {
                    sink.format(DatasetFormat.CSV);
                    sink.example(new Example(List.of(Message.user(q), Message.assistant(a)), where));
                }
            }
        } catch (java.io.UncheckedIOException e) {
            if (e.getCause() instanceof CharacterCodingException) sink.problem(file + ":" + lastLine[0] + ": not valid UTF-8 (on this line or the next); re-encode the file as UTF-8");
            else sink.problem(csvProblem(file, e.getCause().getMessage()));
        } catch (CharacterCodingException e) {
            sink.problem(file + ":" + lastLine[0] + ": not valid UTF-8 (on this line or the next); re-encode the file as UTF-8");
        } catch (IOException e) {
            sink.problem(csvProblem(file, e.getMessage()));
        } catch (IllegalArgumentException e) { // commons-csv on a header row it cannot use, e.g. an empty or repeated name
            sink.problem(file + ":1: CSV header row: " + e.getMessage());
        }
    }
}
