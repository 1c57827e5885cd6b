package dev.loraworkbench.trainer.io;

/** Conversions between fp32 and the 16-bit float formats found in checkpoints (DJL cannot create BF16 arrays). */
public final class Floats {
    private Floats() {}

    public static float bf16ToFloat(short bits) { return Float.intBitsToFloat((bits & 0xFFFF) << 16); }

    /** Round to nearest even, as torch's float -> bfloat16 cast does; NaN stays NaN. */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** IEEE half to float, exact (every half is representable in fp32). */
    public static float f16ToFloat(short half) {
        int h = half & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1F;
        int mant = h & 0x3FF;
        if (exp == 0x1F) return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        if (exp != 0) return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
        if (mant == 0) return Float.intBitsToFloat(sign);
        float value = mant * 0x1p-24f; // subnormal half
        return sign == 0 ? value : -value;
    }
}
