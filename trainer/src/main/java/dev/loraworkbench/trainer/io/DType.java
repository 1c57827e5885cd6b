package dev.loraworkbench.trainer.io;

/** safetensors element types this project reads or writes. */
public enum DType {
    F32(4), F16(2), BF16(2), U8(1), I64(8);

    public final int bytes;

    DType(int bytes) { this.bytes = bytes; }
}
