package dev.loraworkbench.datasets;

import java.util.Arrays;
import java.util.Locale;

/**
 * Supported input layouts: question/answer, prompt/completion, alpaca (instruction/input/output), OpenAI-style
 * messages, ShareGPT conversations (from/value), CSV/TSV. {@code AUTO} looks at the file extension and each record's fields.
 */
public enum DatasetFormat {
    AUTO, QA, PROMPT_COMPLETION, ALPACA, MESSAGES, SHAREGPT, CSV;

    public static DatasetFormat parse(String text) {
        for (DatasetFormat f : values()) {
            if (f.name().equalsIgnoreCase(text.replace('-', '_'))) return f;
        }
        throw new IllegalArgumentException("unknown dataset format '" + text + "', expected one of "
                + Arrays.toString(values()).toLowerCase(Locale.ROOT));
    }
}
