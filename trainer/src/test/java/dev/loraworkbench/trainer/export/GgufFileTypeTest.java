package dev.loraworkbench.trainer.export;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.loraworkbench.trainer.export.GgufFileType.Layout;
import dev.loraworkbench.trainer.io.GgufWriter.TensorType;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The tensor types each file type gives, q4_k_m's worked out by hand from llama.cpp's src/llama-quant.cpp. */
class GgufFileTypeTest {
    private static TensorType q4KM(String name, long rows, long cols, Layout layout) {
        return GgufFileType.Q4_K_M.tensorType(name, new long[] {rows, cols}, layout);
    }

    @Test
    void useMoreBitsPicksTheFirstAndLastEighthAndEveryThirdLayerBetween() {
        List<Integer> picked = IntStream.range(0, 32).filter(i -> GgufFileType.useMoreBits(i, 32)).boxed().toList();
        assertEquals(List.of(0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31), picked);
        assertEquals(List.of(2, 3), IntStream.range(0, 4).filter(i -> GgufFileType.useMoreBits(i, 4)).boxed().toList());
    }

    @Test
    void q4KMOnA7BShapedModel() {
        Layout layout = new Layout(28, true, false);
        assertEquals(TensorType.Q6_K, q4KM("output.weight", 152064, 3584, layout));
        assertEquals(TensorType.Q4_K, q4KM("token_embd.weight", 152064, 3584, layout), "an untied token_embd is an ordinary weight");
        assertEquals(TensorType.Q4_K, q4KM("blk.5.attn_q.weight", 3584, 3584, layout));
        assertEquals(TensorType.Q6_K, q4KM("blk.2.attn_v.weight", 512, 3584, layout), "2 < 28 / 8");
        assertEquals(TensorType.Q6_K, q4KM("blk.5.attn_v.weight", 512, 3584, layout), "(5 - 3) % 3 == 2");
        assertEquals(TensorType.Q4_K, q4KM("blk.6.attn_v.weight", 512, 3584, layout), "(6 - 3) % 3 == 0");
        assertEquals(TensorType.Q6_K, q4KM("blk.27.ffn_down.weight", 3584, 18944, layout));
        assertEquals(TensorType.Q4_K, q4KM("blk.7.ffn_down.weight", 3584, 18944, layout));
        assertEquals(TensorType.Q4_K, q4KM("blk.2.ffn_up.weight", 18944, 3584, layout), "ffn_up and gate stay q4_k in every layer");
        assertEquals(TensorType.F32, GgufFileType.Q4_K_M.tensorType("blk.0.attn_norm.weight", new long[] {3584}, layout));
    }

    @Test
    void aTiedHeadIsTheTokenEmbeddingAndGetsTheHeadsType() {
        assertEquals(TensorType.Q6_K, q4KM("token_embd.weight", 151936, 1536, new Layout(28, false, false)));
        assertEquals(TensorType.Q8_0, q4KM("token_embd.weight", 1920, 192, new Layout(4, false, false)), "rows no multiple of 256: q8_0");
        assertEquals(TensorType.Q5_0, q4KM("token_embd.weight", 1920, 192, new Layout(4, true, false)), "untied: q4_k, falling back to q5_0");
    }

    @Test
    void a70BGivesItsOtherAttnVFiveBits() {
        Layout layout = new Layout(80, true, true);
        assertEquals(TensorType.Q6_K, q4KM("blk.0.attn_v.weight", 1024, 8192, layout));
        assertEquals(TensorType.Q5_K, q4KM("blk.11.attn_v.weight", 1024, 8192, layout), "(11 - 10) % 3 != 2");
        assertEquals(TensorType.Q4_K, q4KM("blk.11.attn_k.weight", 1024, 8192, layout));
        assertEquals(TensorType.Q5_1, q4KM("blk.11.attn_v.weight", 1024, 8000, layout), "q5_k falls back to q5_1");
    }

    /** llama.cpp's LLM_TYPE_70B: qwen2 with 80 layers; llama with 80 layers and grouped-query attention (else a 65B). */
    @Test
    void whatLlamaCppTakesForA70B() throws Exception {
        assertEquals(true, layout("qwen2", 80, 64, 8).is70B());
        assertEquals(true, layout("llama", 80, 64, 8).is70B());
        assertEquals(false, layout("llama", 80, 64, 64).is70B());
        assertEquals(false, layout("qwen2", 64, 40, 8).is70B());
    }

    private static Layout layout(String type, int layers, int heads, int kvHeads) throws Exception {
        var json = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode().put("model_type", type).put("hidden_size", 8192)
                .put("intermediate_size", 28672).put("num_hidden_layers", layers).put("num_attention_heads", heads)
                .put("num_key_value_heads", kvHeads).put("vocab_size", 128256);
        return Layout.of(type, dev.loraworkbench.trainer.model.ModelConfig.fromJson(json, "test"), true);
    }

    @Test
    void rowsThatFitNoBlockFallBackToF16() {
        Layout layout = new Layout(4, true, false);
        assertEquals(TensorType.F16, q4KM("blk.0.attn_q.weight", 100, 100, layout), "q4_k -> q5_0 -> no multiple of 32 either");
        assertEquals(TensorType.F16, q4KM("output.weight", 1000, 100, layout), "q8_0 head on rows of 100");
        assertEquals(TensorType.Q8_0, GgufFileType.Q4_0.tensorType("output.weight", new long[] {1920, 192}, layout), "q4_0 keeps its q8_0 head");
        assertEquals(TensorType.F16, GgufFileType.Q8_0.tensorType("blk.0.attn_q.weight", new long[] {100, 100}, layout));
    }
}
