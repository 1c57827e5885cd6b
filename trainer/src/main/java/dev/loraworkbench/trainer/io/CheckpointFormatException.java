package dev.loraworkbench.trainer.io;

/** A checkpoint or safetensors file that cannot be used; the message names the file and what is wrong. */
public class CheckpointFormatException extends dev.loraworkbench.datasets.UserError {
    public CheckpointFormatException(String message) { super(message); }
}
