package dev.loraworkbench.datasets;

/**
 * Which CSV columns hold the prompt and the completion: header names, or 0-based column numbers
 * ("0", "1") when the file has no header row.
 */
public record CsvColumns(String prompt, String completion, boolean header) {
    public static final CsvColumns DEFAULT = new CsvColumns("question", "answer", true);

    public CsvColumns(String prompt, String completion) {
        this(prompt, completion, true);
    }
}
