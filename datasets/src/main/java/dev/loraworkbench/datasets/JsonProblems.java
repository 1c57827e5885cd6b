package dev.loraworkbench.datasets;

import com.fasterxml.jackson.core.JsonProcessingException;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * A JSON file that cannot be read, said the way every other user mistake is: "file:line: what is wrong", without
 * Jackson's "(Source: REDACTED ...; line: 1, column: 5)" trailer and stack of parser internals.
 */
public final class JsonProblems {
    private JsonProblems() {}

    public static String describe(Path file, IOException e) {
        if (e instanceof JsonProcessingException json) {
            int line = json.getLocation() == null ? 0 : json.getLocation().getLineNr();
            return file + (line > 0 ? ":" + line : "") + ": not valid JSON (" + message(json) + ")";
        }
        if (e instanceof NoSuchFileException) return file + ": missing";
        if (e instanceof CharacterCodingException) return file + ": not valid UTF-8; re-encode the file as UTF-8";
        return file + ": cannot read (" + e.getMessage() + ")";
    }

    /**
     * What the parser found, without its source trailer: Jackson's own message can carry one inside, e.g. "expected close
     * marker for Object (start marker at [Source: REDACTED (...); line: 1, column: 1])" becomes "... (start marker at line
     * 1, column 1)".
     */
    public static String message(JsonProcessingException e) {
        String m = e.getOriginalMessage();
        if (m == null) return "unreadable";
        // limits (nesting depth, number and string length) name the Jackson setting behind them: the number is enough
        return SOURCE.matcher(m).replaceAll("line $1, column $2").replaceAll(", from `[^`]*`", "");
    }

    private static final java.util.regex.Pattern SOURCE = java.util.regex.Pattern.compile("\\[Source: .*?; line: (\\d+), column: (\\d+)\\]");
}
