package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.quant.Blockwise8bit;
import dev.loraworkbench.trainer.quant.DynamicMap;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * 8-bit AdamW against bitsandbytes' own reference code (its pure-torch quantize_blockwise and CPU 8-bit blockwise
 * update, run on torch by trainer/scripts/golden/adamw8bit.py), and its state through a checkpoint.
 */
class AdamW8bitTest {
    private static final int[] SIZES = {4100, 6144, 640};

    /**
     * The maps equal bitsandbytes' create_dynamic_map within 2 ulps (the mean of two linspace values): those bits follow torch.linspace's fp32
     * rounding, which differs between torch builds (1.13 fills 8-lane vectors from a base, 2.x computes each value from
     * the nearer end, FMA or not), so no single bit pattern is bitsandbytes' map. A wrong formula is off by far more.
     */
    @Test
    void dynamicMapsAreBitsandbytesMaps() throws Exception {
        JsonNode golden = golden();
        for (var map : List.of(Map.entry("signed", DynamicMap.SIGNED), Map.entry("unsigned", DynamicMap.UNSIGNED))) {
            float[] want = floats(golden.get(map.getKey() + "_map").asText());
            assertEquals(256, map.getValue().length);
            int differ = 0;
            for (int i = 0; i < 256; i++) {
                float got = map.getValue()[i];
                assertTrue(Math.abs(got - want[i]) <= 2 * Math.ulp(want[i]), map.getKey() + "[" + i + "]: " + got + ", bitsandbytes " + want[i]);
                if (got != want[i]) differ++;
            }
            System.out.printf("%s dynamic map: %d of 256 values one or two ulps from bitsandbytes' on torch 1.13, the rest equal%n", map.getKey(), differ);
        }
    }

    /**
     * Five steps on three tensors (a partial last block, whole blocks, one under min_8bit_size with fp32 state) give
     * bitsandbytes' parameters and state. Codes may differ by one step of the map where a moment lies within rounding of
     * a midpoint (torch fuses a + alpha * b, libtorch versions round differently there); wrong maps, blocks, scales or
     * rounding would move most codes.
     */
    @Test
    void fiveStepsMatchBitsandbytesReference() throws Exception {
        JsonNode golden = golden();
        double lr = golden.get("lr").asDouble(), wd = golden.get("weight_decay").asDouble();
        int steps = golden.get("steps").asInt();
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDList params = new NDList();
            for (int t = 0; t < SIZES.length; t++) params.add(param(manager, "layers." + t + ".lora_A.weight", initial(SIZES[t], t)));
            AdamW adamw = new AdamW(params, wd, manager, true);
            for (int step = 1; step <= steps; step++) takeStep(adamw, manager, step, lr);

            for (int t = 0; t < SIZES.length; t++) {
                JsonNode expected = golden.get("tensors").get(t);
                float[] want = floats(expected.get("param").asText());
                float[] got = params.get(t).toFloatArray();
                double worst = 0;
                for (int i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-3));
                System.out.printf("%d values: parameters within %.2e of bitsandbytes'%n", SIZES[t], worst);
                assertTrue(worst < 1e-5, SIZES[t] + " values: parameter off by " + worst);
            }
            // the 8-bit state itself, read back through a checkpoint (codes and scales exactly as held)
            Path file = Files.createTempFile("adamw8bit", ".safetensors");
            try {
                adamw.writeState(file, Map.of());
                try (var f = dev.loraworkbench.trainer.io.SafetensorsFile.open(file)) {
                    assertEquals("adamw_8bit", f.metadata().get("optimizer"));
                    for (int t = 0; t < 2; t++) {
                        JsonNode expected = golden.get("tensors").get(t);
                        String key = t + ".layers." + t + ".lora_A.weight";
                        for (String moment : new String[] {"1", "2"}) {
                            String name = (moment.equals("1") ? "exp_avg." : "exp_avg_sq.") + key;
                            byte[] want = Base64.getDecoder().decode(expected.get("codes" + moment).asText());
                            ByteBuffer codes = f.bytes(name + ".codes");
                            int differ = 0;
                            for (int i = 0; i < want.length; i++) {
                                int d = Math.abs((codes.get(i) & 0xff) - (want[i] & 0xff));
                                assertTrue(d <= 1, name + "[" + i + "]: code " + (codes.get(i) & 0xff) + ", bitsandbytes " + (want[i] & 0xff));
                                if (d > 0) differ++;
                            }
                            for (int i = want.length; i < codes.remaining(); i++) assertEquals(moment.equals("1") ? 127 : 0, codes.get(i) & 0xff, "padding codes zero");
                            assertTrue(differ <= want.length / 200, name + ": " + differ + " of " + want.length + " codes differ");
                            float[] wantScales = floats(expected.get("absmax" + moment).asText());
                            float[] scales = f.floats(name + ".absmax");
                            for (int b = 0; b < wantScales.length; b++) assertEquals(wantScales[b], scales[b], 1e-6 * wantScales[b], name + " block " + b);
                            System.out.printf("%s: %d of %d codes one step away from bitsandbytes', scales within 1e-6%n", name, differ, want.length);
                        }
                    }
                    assertTrue(f.tensors().containsKey("exp_avg.2.layers.2.lora_A.weight"), "640 values keep fp32 moments");
                }
            } finally {
                Files.deleteIfExists(file);
            }
        }
    }

    /** Codes are the nearest map value's index (ties to the lower one, as torch.bucketize), and the error stays within half a gap. */
    @Test
    void quantizationPicksTheNearestCode() {
        Random rnd = new Random(5);
        int n = 3 * 256 + 100;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * Math.pow(10, -rnd.nextInt(6)));
        x[7] = 0;
        for (int i = 256; i < 512; i++) x[i] = 0; // an all-zero block
        for (float[] map : new float[][] {DynamicMap.SIGNED, DynamicMap.UNSIGNED}) {
            float[] values = map == DynamicMap.SIGNED ? x : abs(x);
            try (NDManager manager = NDManager.newBaseManager("PyTorch"); Blockwise8bit codec = Blockwise8bit.of(map, manager)) {
                NDArray input = manager.create(values);
                Blockwise8bit.Quantized q = codec.quantize(input);
                byte[] codes = q.codes().toByteArray();
                float[] absmax = q.absmax().toFloatArray();
                float[] back = codec.dequantize(q.codes(), q.absmax(), new Shape(n)).toFloatArray();
                assertEquals(4, absmax.length);
                for (int i = 0; i < n; i++) {
                    int block = i / 256;
                    float expectedMax = 0;
                    for (int j = block * 256; j < Math.min(n, block * 256 + 256); j++) expectedMax = Math.max(expectedMax, Math.abs(values[j]));
                    assertEquals(expectedMax, absmax[block], "block " + block + " scale");
                    float scaled = Math.max(-1f, Math.min(1f, values[i] * (1f / Math.max(expectedMax, 1e-38f))));
                    int want = 0;
                    while (want < 255 && (map[want] + map[want + 1]) / 2 < scaled) want++;
                    assertEquals(want, codes[i] & 0xff, "value " + i + " (" + values[i] + ")");
                    assertEquals(map[want] * absmax[block], back[i], 0f, "dequantized " + i);
                }
                assertEquals(0f, back[300], "a zero block dequantizes to zeros");
            }
        }
    }

    /** A run resumed from a checkpoint continues bit for bit; a checkpoint of the other optimizer is refused with a way out. */
    @Test
    void stateSurvivesACheckpointExactly(@TempDir Path dir) throws Exception {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDList straight = new NDList(param(manager, "a.lora_A.weight", initial(4100, 0)), param(manager, "b.lora_B.weight", initial(640, 1)));
            AdamW uninterrupted = new AdamW(straight, 0.01, manager, true);
            for (int step = 1; step <= 5; step++) takeStep(uninterrupted, manager, step, 1e-2);

            NDList resumed = new NDList(param(manager, "a.lora_A.weight", initial(4100, 0)), param(manager, "b.lora_B.weight", initial(640, 1)));
            AdamW first = new AdamW(resumed, 0.01, manager, true);
            for (int step = 1; step <= 3; step++) takeStep(first, manager, step, 1e-2);
            Path file = dir.resolve("optimizer.safetensors");
            first.writeState(file, Map.of());
            AdamW second = new AdamW(resumed, 0.01, manager, true);
            second.readState(file);
            assertEquals(3, second.stepsTaken());
            for (int step = 4; step <= 5; step++) takeStep(second, manager, step, 1e-2);
            for (int i = 0; i < 2; i++) assertArrayEquals(straight.get(i).toFloatArray(), resumed.get(i).toFloatArray(), "parameter " + i + " bit for bit");

            var wrong = assertThrows(CheckpointFormatException.class, () -> new AdamW(resumed, 0.01, manager, false).readState(file));
            assertTrue(wrong.getMessage().contains("holds adamw_8bit state") && wrong.getMessage().contains("training.optimizer: adamw_8bit"), wrong.getMessage());
        }
    }

    /**
     * Small parameters share an 8-bit group and a large one is updated a range of 256K values at a time (one quantization
     * per group or range, each parameter padded to whole blocks): each must get what it gets alone and whole. Here a
     * 1.5M tensor in six ranges, another alone, and {4100, 6144} together.
     */
    @Test
    void groupsAndRangesGiveWhatEachParameterGetsAloneAndWhole() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            int[] sizes = {1_500_000, 1_500_000, 4100, 6144};
            NDList together = new NDList();
            for (int t = 0; t < sizes.length; t++) together.add(param(manager, (t == 0 ? "a" : "b" + t) + ".lora_A.weight", initial(sizes[t], t)));
            AdamW grouped = new AdamW(together, 0.01, manager, true);
            for (int step = 1; step <= 2; step++) takeStep(grouped, manager, step, 1e-2);
            for (int t = 0; t < sizes.length; t++) {
                NDArray alone = param(manager, together.get(t).getName(), initial(sizes[t], t));
                AdamW whole = new AdamW(new NDList(alone), 0.01, manager, true, 1L << 40);
                for (int step = 1; step <= 2; step++) takeStep(whole, manager, step, 1e-2);
                assertArrayEquals(alone.toFloatArray(), together.get(t).toFloatArray(), "parameter " + t + " alone and whole vs in its group / ranges");
            }
        }
    }

    /** What the 8-bit state holds between steps: 2 bytes per value and a scale per block, fp32 for small tensors. */
    @Test
    void eightBitStateTakesTwoBytesPerValue() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDList params = new NDList(param(manager, "a.lora_A.weight", initial(65536, 0)), param(manager, "b.lora_B.weight", initial(640, 1)));
            long eight = stateBytes(new AdamW(params, 0, manager, true)), full = stateBytes(new AdamW(params, 0, manager, false));
            assertEquals(2L * (65536 + 256 * 4) + 8L * 640, eight);
            assertEquals(8L * (65536 + 640), full);
        }
    }

    private static long stateBytes(AdamW adamw) {
        long bytes = 0;
        for (NDArray a : adamw.state()) if (a.getShape().dimension() == 1) bytes += a.size() * a.getDataType().getNumOfBytes();
        return bytes;
    }

    /** Gives every parameter its gradient for {@code step} (by a backward of sum(p * g)), then steps. */
    private static void takeStep(AdamW adamw, NDManager manager, int step, double lr) {
        try (NDManager scope = manager.newSubManager()) {
            scope.tempAttachAll(adamw.parameters().toArray(new NDArray[0]));
            scope.tempAttachAll(adamw.state().toArray(new NDArray[0]));
            try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray sum = null;
                for (int t = 0; t < adamw.parameters().size(); t++) {
                    NDArray p = adamw.parameters().get(t);
                    NDArray term = p.mul(scope.create(gradient((int) p.size(), tensorIndex(p), step), p.getShape())).sum();
                    sum = sum == null ? term : sum.add(term);
                }
                collector.backward(sum);
            }
            adamw.step(lr, 1.0);
        }
    }

    /** The golden script's tensor index of a parameter (its inputs depend on it), from the sizes. */
    private static int tensorIndex(NDArray p) {
        String name = p.getName();
        if (name.startsWith("layers.")) return Integer.parseInt(name.split("\\.")[1]);
        return name.startsWith("a.") ? 0 : 1;
    }

    private static NDArray param(NDManager m, String name, float[] values) {
        NDArray p = m.create(values);
        p.setName(name);
        p.setRequiresGradient(true);
        return p;
    }

    // the golden script's inputs: integers, divided once in double, rounded once to fp32
    private static float[] initial(int n, int t) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (((i * 31 + t * 7) % 1001 - 500) / 500.0 * 0.05);
        return x;
    }

    private static float[] gradient(int n, int t, int step) {
        float[] g = new float[n];
        for (int i = 0; i < n; i++) {
            long k = ((long) i * 7919 + step * 104729L + t * 13L) % 2001 - 1000;
            g[i] = (float) (k / 1000.0 * 1e-3 * (1 + (i / 256) % 5) * (i % 97 == 0 ? 50 : 1));
        }
        return g;
    }

    private static float[] abs(float[] x) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) out[i] = Math.abs(x[i]);
        return out;
    }

    private static JsonNode golden() throws Exception {
        try (InputStream in = AdamW8bitTest.class.getResourceAsStream("/golden/adamw8bit.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    private static float[] floats(String base64) {
        ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(base64)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }
}
