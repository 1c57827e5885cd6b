package dev.loraworkbench.trainer.device;

/** The recipe asks for a device or precision this machine's engine cannot give; the message says what to do. */
public final class DeviceException extends dev.loraworkbench.datasets.UserError {
    public DeviceException(String message) { super(message); }
}
