package dev.loraworkbench.datasets;

/**
 * A mistake the user can fix (a bad recipe, data file, checkpoint, option or device choice): the message says
 * what is wrong and what to do, and the CLI shows it without a stack trace. Every such exception extends this one.
 * It lives in the lowest module so that the data readers' errors are user errors too.
 */
public class UserError extends RuntimeException {
    public UserError(String message) { super(message); }
}
