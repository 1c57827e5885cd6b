package dev.loraworkbench.datasets;

/** Bad input data. The message names the file, the line (or CSV record) and what to fix; never shown with a stack trace. */
public class DatasetException extends UserError {
    public DatasetException(String message) { super(message); }
}
