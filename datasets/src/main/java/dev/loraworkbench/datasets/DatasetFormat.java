package dev.loraworkbench.datasets;

import java.util.Arrays;
import java.util.Locale;

/** Supported input layouts. {@code AUTO} looks at the file extension and the first record's fields. */
public enum DatasetFormat {
    AUTO, QA, PROMPT_COMPLETION, MESSAGES, CSV;

    public static DatasetFormat parse(String text) {
        for (DatasetFormat f : values()) {
            if (f.name().equalsIgnoreCase(text.replace('-', '_'))) return f;
        }
        throw new IllegalArgumentException("unknown dataset format '" + text + "', expected one of "
                + Arrays.toString(values()).toLowerCase(Locale.ROOT));
    }
}
