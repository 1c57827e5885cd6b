package dev.loraworkbench.datasets;

/** Which CSV columns hold the prompt and the completion (by header name). */
public record CsvColumns(String prompt, String completion) {
    public static final CsvColumns DEFAULT = new CsvColumns("question", "answer");
}
