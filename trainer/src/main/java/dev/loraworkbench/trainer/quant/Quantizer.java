package dev.loraworkbench.trainer.quant;

import dev.loraworkbench.trainer.tensor.Tensors;

/** Blockwise 4-bit quantization and dequantization, bit-compatible with bitsandbytes' layout. */
public final class Quantizer {
    private Quantizer() {}

    public static QuantizedTensor quantize(float[] w, long[] shape, Codebook codebook, int blockSize, boolean doubleQuant) {
        return quantize((from, dst, count) -> System.arraycopy(w, (int) from, dst, 0, count), w.length, shape, codebook, blockSize, doubleQuant);
    }

    /**
     * Quantizes a stored tensor read in chunks of whole blocks (at most ~4 M elements), so the fp32 weight is never
     * on the heap at once: only its codes (numel / 2 bytes) and scales are.
     */
    public static QuantizedTensor quantize(Tensors.RangeReader reader, long numel, long[] shape, Codebook codebook, int blockSize, boolean doubleQuant) {
        if (numel % 2 != 0) throw new IllegalArgumentException("4-bit packing needs an even number of elements, got " + numel);
        if (blockSize % 2 != 0) throw new IllegalArgumentException("block size must be even, got " + blockSize);
        int blocks = Math.toIntExact((numel + blockSize - 1) / blockSize);
        float[] absmax = new float[blocks];
        byte[] codes = new byte[Math.toIntExact(numel / 2)];
        int chunkBlocks = Math.max(1, Tensors.STREAM_FLOATS / blockSize);
        float[] buf = Tensors.chunkBuffer();
        for (int first = 0; first < blocks; first += chunkBlocks) {
            long start = (long) first * blockSize;
            int count = (int) Math.min((long) chunkBlocks * blockSize, numel - start);
            reader.read(start, buf, count);
            int firstBlock = first;
            // blocks are independent (and even-sized, so no byte is shared): quantize them on all cores
            java.util.stream.IntStream.range(0, (count + blockSize - 1) / blockSize).parallel().forEach(b -> {
                int from = b * blockSize, to = Math.min(from + blockSize, count);
                float m = 0;
                for (int i = from; i < to; i++) m = Math.max(m, Math.abs(buf[i]));
                absmax[firstBlock + b] = m;
                float inv = m == 0 ? 0 : 1 / m;
                for (int i = from; i < to; i++) {
                    int code = codebook.nearest(buf[i] * inv);
                    int at = (int) ((start + i) >> 1);
                    if ((i & 1) == 0) codes[at] = (byte) (code << 4); // first element: high nibble
                    else codes[at] |= (byte) code;
                }
            });
        }
        if (!doubleQuant) return new QuantizedTensor(codebook, shape.clone(), blockSize, codes, absmax, null, null, 0f);
        return doubleQuantize(codebook, shape, blockSize, codes, absmax);
    }

    /** Scales minus their mean, quantized to the signed dynamic map in blocks of 256 (bitsandbytes' compress_statistics). */
    private static QuantizedTensor doubleQuantize(Codebook codebook, long[] shape, int blockSize, byte[] codes, float[] absmax) {
        double sum = 0;
        for (float a : absmax) sum += a;
        float offset = (float) (sum / absmax.length);
        int blocks = (absmax.length + QuantizedTensor.SCALE_BLOCK - 1) / QuantizedTensor.SCALE_BLOCK;
        float[] absmax2 = new float[blocks];
        byte[] absmaxCodes = new byte[absmax.length];
        for (int b = 0; b < blocks; b++) {
            int from = b * QuantizedTensor.SCALE_BLOCK, to = Math.min(from + QuantizedTensor.SCALE_BLOCK, absmax.length);
            float m = 0;
            for (int i = from; i < to; i++) m = Math.max(m, Math.abs(absmax[i] - offset));
            absmax2[b] = m;
            float inv = m == 0 ? 0 : 1 / m;
            for (int i = from; i < to; i++) absmaxCodes[i] = (byte) DynamicMap.nearest((absmax[i] - offset) * inv);
        }
        return new QuantizedTensor(codebook, shape.clone(), blockSize, codes, null, absmaxCodes, absmax2, offset);
    }

    /** Reference dequantization in Java (the device path gathers from a 256-entry byte table instead). */
    public static float[] dequantize(QuantizedTensor q) {
        float[] scales = q.scales();
        float[] out = new float[Math.toIntExact(q.numel())];
        for (int i = 0; i < out.length; i++) {
            int b = q.codes()[i >> 1] & 0xFF;
            int code = (i & 1) == 0 ? b >>> 4 : b & 15;
            out[i] = q.codebook().value(code) * scales[i / q.blockSize()];
        }
        return out;
    }

    /** Row b holds the two values of byte b: (codebook[b >> 4], codebook[b & 15]). */
    public static float[] byteTable(Codebook codebook) {
        float[] t = new float[512];
        for (int b = 0; b < 256; b++) {
            t[2 * b] = codebook.value(b >>> 4);
            t[2 * b + 1] = codebook.value(b & 15);
        }
        return t;
    }
}
