package dev.loraworkbench.trainer.quant;

/**
 * A weight in bitsandbytes' 4-bit layout: two codes per byte (the first element in the high nibble) over
 * the row-major flattening, one scale per block of {@code blockSize} elements. With double quantization the
 * scales are stored as 8-bit codes ({@code absmaxCodes}) into {@link DynamicMap#SIGNED}, one fp32
 * {@code absmax2} per 256 scales, plus the mean {@code offset}; otherwise {@code absmax} holds them in fp32.
 */
public record QuantizedTensor(Codebook codebook, long[] shape, int blockSize, byte[] codes, float[] absmax,
                              byte[] absmaxCodes, float[] absmax2, float offset) {
    public static final int SCALE_BLOCK = 256;

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public boolean doubleQuant() { return absmaxCodes != null; }

    /** The block scales as fp32 (decoding the 8-bit codes under double quantization). */
    public float[] scales() {
        if (!doubleQuant()) return absmax;
        float[] s = new float[absmaxCodes.length];
        for (int i = 0; i < s.length; i++) s[i] = DynamicMap.SIGNED[absmaxCodes[i] & 0xFF] * absmax2[i / SCALE_BLOCK] + offset;
        return s;
    }

    /** Bytes this tensor occupies in memory, for the memory plan. */
    public long bytes() {
        return codes.length + (doubleQuant() ? absmaxCodes.length + 4L * absmax2.length + 4 : 4L * absmax.length);
    }
}
