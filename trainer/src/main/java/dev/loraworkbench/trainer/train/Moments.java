package dev.loraworkbench.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.DType;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import dev.loraworkbench.trainer.quant.Blockwise8bit;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.nio.ByteBuffer;

/**
 * AdamW's two moments of some of the parameters: fp32 moments of one parameter (updated in place), or bitsandbytes'
 * 8-bit blockwise state of a group of parameters (the first moment on the signed dynamic map, the second on the
 * unsigned one), dequantized to fp32 a range at a time for the update and quantized again.
 */
sealed interface Moments permits Moments.Fp32, Moments.EightBit {

    /** The indices (in AdamW's parameter list) of the parameters these moments belong to. */
    int[] params();

    /** The arrays held between steps. */
    NDList arrays();

    /** Writes each parameter's moments under "exp_avg." / "exp_avg_sq." + {@code keys[param]}. */
    void write(SafetensorsWriter w, String[] keys);

    /** The moments a checkpoint holds, replacing these. */
    void read(SafetensorsFile f, String[] keys);

    /** Tensors {@link #write} adds to a state file. */
    int tensorsWritten();

    final class Fp32 implements Moments {
        private final int param;
        private NDArray m, v;

        Fp32(int param, Shape shape, NDManager manager) {
            this.param = param;
            m = manager.zeros(shape);
            v = manager.zeros(shape);
        }

        @Override public int[] params() { return new int[] {param}; }

        /** {m, v}, to be updated in place. */
        NDArray[] load() { return new NDArray[] {m, v}; }

        @Override public NDList arrays() { return new NDList(m, v); }

        @Override public void write(SafetensorsWriter w, String[] keys) {
            w.putF32("exp_avg." + keys[param], m.getShape().getShape(), m.toFloatArray());
            w.putF32("exp_avg_sq." + keys[param], v.getShape().getShape(), v.toFloatArray());
        }

        @Override public void read(SafetensorsFile f, String[] keys) {
            m = restore(f, "exp_avg." + keys[param], m);
            v = restore(f, "exp_avg_sq." + keys[param], v);
        }

        @Override public int tensorsWritten() { return 2; }

        private static NDArray restore(SafetensorsFile f, String name, NDArray current) {
            require(f, name);
            NDArray restored = Tensors.of(current.getManager(), f.floats(name), current.getShape());
            current.close();
            return restored;
        }
    }

    /**
     * The 8-bit state of a group of parameters, laid end to end, each padded to whole blocks of 256: codes (one byte a
     * value) and an fp32 scale per block for each moment, 2 bytes a value instead of 8. No block spans two parameters,
     * so quantizing a range of the group at once gives each parameter what quantizing it alone gives, in a few dozen
     * tensor ops per range instead of per parameter. Starts at zero, as bitsandbytes' zeroed codes and scales dequantize to.
     */
    final class EightBit implements Moments {
        private final int[] params;
        private final long[] offsets; // where each parameter starts in the group, in values (a multiple of 256)
        private final long length;
        private final Blockwise8bit signed, unsigned;
        private final NDArray codes1, absmax1, codes2, absmax2;

        EightBit(int[] params, long[] sizes, NDManager manager, Blockwise8bit signed, Blockwise8bit unsigned) {
            this.params = params;
            this.signed = signed;
            this.unsigned = unsigned;
            offsets = new long[params.length];
            long at = 0;
            for (int j = 0; j < params.length; j++) {
                offsets[j] = at;
                at += Blockwise8bit.blocks(sizes[j]) * Blockwise8bit.BLOCK;
            }
            length = at;
            codes1 = manager.zeros(new Shape(length), DataType.UINT8);
            codes2 = manager.zeros(new Shape(length), DataType.UINT8);
            absmax1 = manager.zeros(new Shape(length / Blockwise8bit.BLOCK));
            absmax2 = manager.zeros(new Shape(length / Blockwise8bit.BLOCK));
        }

        @Override public int[] params() { return params; }

        /** Where parameter {@code j} of the group starts in the flat layout. */
        long offset(int j) { return offsets[j]; }

        /** Values in the flat layout (the parameters' sizes, each padded to whole blocks). */
        long length() { return length; }

        /** {m, v} of values from..to of the flat layout (block-aligned), in fp32, in the manager the state is attached to. */
        NDArray[] load(long from, long to) {
            Shape range = new Shape(to - from);
            String values = from + ":" + to, blocks = from / Blockwise8bit.BLOCK + ":" + to / Blockwise8bit.BLOCK;
            return new NDArray[] {signed.dequantize(codes1.get(values), absmax1.get(blocks), range),
                    unsigned.dequantize(codes2.get(values), absmax2.get(blocks), range)};
        }

        /**
         * The updated m, v of values from..to quantized again, written over that range's codes and scales in place (the
         * held arrays stay where they are: new ones made range by range would lodge between the ranges' freed temporaries).
         */
        void store(long from, long to, NDArray m, NDArray v) {
            NDIndex values = new NDIndex(from + ":" + to), blocks = new NDIndex(from / Blockwise8bit.BLOCK + ":" + to / Blockwise8bit.BLOCK);
            Blockwise8bit.Quantized q1 = signed.quantize(m), q2 = unsigned.quantize(v);
            codes1.set(values, q1.codes());
            absmax1.set(blocks, q1.absmax());
            codes2.set(values, q2.codes());
            absmax2.set(blocks, q2.absmax());
        }

        @Override public NDList arrays() { return new NDList(codes1, absmax1, codes2, absmax2); }

        @Override public void write(SafetensorsWriter w, String[] keys) {
            byte[] c1 = codes1.toByteArray(), c2 = codes2.toByteArray();
            float[] a1 = absmax1.toFloatArray(), a2 = absmax2.toFloatArray();
            for (int j = 0; j < params.length; j++) {
                int from = (int) offsets[j], to = (int) (j + 1 < params.length ? offsets[j + 1] : length);
                long[] codeShape = {to - from}, scaleShape = {(to - from) / Blockwise8bit.BLOCK};
                String key = keys[params[j]];
                w.put("exp_avg." + key + ".codes", DType.U8, codeShape, java.util.Arrays.copyOfRange(c1, from, to));
                w.putF32("exp_avg." + key + ".absmax", scaleShape, java.util.Arrays.copyOfRange(a1, from / Blockwise8bit.BLOCK, to / Blockwise8bit.BLOCK));
                w.put("exp_avg_sq." + key + ".codes", DType.U8, codeShape, java.util.Arrays.copyOfRange(c2, from, to));
                w.putF32("exp_avg_sq." + key + ".absmax", scaleShape, java.util.Arrays.copyOfRange(a2, from / Blockwise8bit.BLOCK, to / Blockwise8bit.BLOCK));
            }
        }

        @Override public void read(SafetensorsFile f, String[] keys) {
            byte[] c1 = new byte[(int) length], c2 = new byte[(int) length];
            float[] a1 = new float[(int) (length / Blockwise8bit.BLOCK)], a2 = new float[a1.length];
            for (int j = 0; j < params.length; j++) {
                int from = (int) offsets[j], to = (int) (j + 1 < params.length ? offsets[j + 1] : length);
                String key = keys[params[j]];
                codes(f, "exp_avg." + key + ".codes", c1, from, to);
                scales(f, "exp_avg." + key + ".absmax", a1, from / Blockwise8bit.BLOCK, to / Blockwise8bit.BLOCK);
                codes(f, "exp_avg_sq." + key + ".codes", c2, from, to);
                scales(f, "exp_avg_sq." + key + ".absmax", a2, from / Blockwise8bit.BLOCK, to / Blockwise8bit.BLOCK);
            }
            codes1.intern(Tensors.bytes(codes1.getManager(), c1));
            codes2.intern(Tensors.bytes(codes2.getManager(), c2));
            absmax1.intern(Tensors.of(absmax1.getManager(), a1, absmax1.getShape()));
            absmax2.intern(Tensors.of(absmax2.getManager(), a2, absmax2.getShape()));
        }

        @Override public int tensorsWritten() { return 4 * params.length; }

        private static void codes(SafetensorsFile f, String name, byte[] into, int from, int to) {
            require(f, name);
            ByteBuffer b = f.bytes(name);
            if (b.remaining() != to - from) throw new CheckpointFormatException(f.path() + ": '" + name + "' holds " + b.remaining() + " codes, expected " + (to - from));
            b.get(into, from, to - from);
        }

        private static void scales(SafetensorsFile f, String name, float[] into, int from, int to) {
            require(f, name);
            float[] values = f.floats(name);
            if (values.length != to - from) throw new CheckpointFormatException(f.path() + ": '" + name + "' holds " + values.length + " scales, expected " + (to - from));
            System.arraycopy(values, 0, into, from, values.length);
        }
    }

    private static void require(SafetensorsFile f, String name) {
        if (!f.tensors().containsKey(name)) {
            throw new CheckpointFormatException(f.path() + ": missing '" + name + "'; the checkpoint is for another adapter layout or optimizer");
        }
    }
}
