package dev.loraworkbench.trainer.runs;

import dev.loraworkbench.datasets.UserError;

/** A run directory that cannot be used as asked: it exists already, another process trains it, it has no checkpoint. */
public final class RunException extends UserError {
    public RunException(String message) { super(message); }
}
