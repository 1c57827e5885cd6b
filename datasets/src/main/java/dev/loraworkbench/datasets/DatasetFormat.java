package dev.loraworkbench.datasets;

import java.util.Arrays;
import java.util.Locale;

/**
 * Supported input layouts: question/answer, prompt/completion, alpaca (instruction/input/output), OpenAI-style
 * messages, ShareGPT conversations (from/value), CSV/TSV, and raw text. {@code AUTO} looks at the file extension and each record's fields.
 */
public enum DatasetFormat {
    AUTO, QA, PROMPT_COMPLETION, ALPACA, MESSAGES, SHAREGPT, CSV,
    /** Files read as documents (code, Markdown, text), loss on every token: see {@link TextDocuments}, {@link TextWindows}. */
    TEXT;

    /** What Axolotl calls the raw-text format; read as {@link #TEXT}. */
    public static final String TEXT_ALIAS = "completion";

    public static DatasetFormat parse(String text) {
        if (text.equalsIgnoreCase(TEXT_ALIAS)) return TEXT;
        for (DatasetFormat f : values()) {
            if (f.name().equalsIgnoreCase(text.replace('-', '_'))) return f;
        }
        throw new IllegalArgumentException("unknown dataset format '" + text + "', expected one of "
                + Arrays.toString(values()).toLowerCase(Locale.ROOT));
    }
}
