package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** Token ids of the real Qwen2.5 / Qwen3 / Llama 3 / DeepSeek-V3 tokenizers through DJL, checked two ways. */
class RealTokenizerIdsTest {

    /** Ids published with the models (model cards, generation_config.json) or quoted widely for these vocabularies. */
    @Test
    void knownIds() {
        try (TokenizerFiles qwen = TokenizerFiles.load(RealTokenizers.dir("qwen2_5"))) {
            assertArrayEquals(new int[] {9707, 1879}, qwen.encode("Hello world"));
            assertEquals(151643, qwen.tokenId("<|endoftext|>"));
            assertEquals(151644, qwen.tokenId("<|im_start|>"));
            assertEquals(151645, qwen.tokenId("<|im_end|>"));
            assertEquals(qwen.tokenId("<|endoftext|>"), qwen.padId());
        }
        try (TokenizerFiles llama = TokenizerFiles.load(RealTokenizers.dir("llama3"))) {
            assertArrayEquals(new int[] {9906, 1917}, llama.encode("Hello world"));
            assertEquals(128000, llama.tokenId("<|begin_of_text|>"));
            assertEquals(128001, llama.tokenId("<|end_of_text|>"));
            assertEquals(128009, llama.tokenId("<|eot_id|>"));
        }
        try (TokenizerFiles deepseek = TokenizerFiles.load(RealTokenizers.dir("deepseek_v3"))) {
            assertEquals(0, deepseek.tokenId("<｜begin▁of▁sentence｜>"));
            assertEquals(1, deepseek.tokenId("<｜end▁of▁sentence｜>"));
        }
    }

    /** DJL's binding of the Rust tokenizers and an independent plain-Java BPE agree on every sample string. */
    @ParameterizedTest
    @ValueSource(strings = {"qwen2_5", "qwen3", "llama3", "deepseek_v3", "mistral_nemo"})
    void djlMatchesAnIndependentBpe(String name) throws IOException {
        var dir = RealTokenizers.dir(name);
        ReferenceBpe reference = ReferenceBpe.load(dir.resolve("tokenizer.json"));
        try (TokenizerFiles djl = TokenizerFiles.load(dir)) {
            int tokens = 0;
            for (String s : samples()) {
                int[] ids = djl.encode(s);
                assertEquals(reference.encode(s), toList(ids), () -> name + " on: " + s);
                String decoded = djl.decode(ids); // Qwen normalizes to NFC first
                assertEquals(true, decoded.equals(s) || decoded.equals(Normalizer.normalize(s, Normalizer.Form.NFC)), () -> "decode(encode(s)) == s: " + decoded);
                tokens += ids.length;
            }
            assertEquals(true, tokens > 1000, "the samples exercise the tokenizer: " + tokens + " tokens");
        }
    }

    private static List<Integer> toList(int[] ids) {
        List<Integer> l = new ArrayList<>();
        for (int id : ids) l.add(id);
        return l;
    }

    /** Edge cases (contractions, digits, whitespace runs, CJK, emoji, combining marks, special tokens) + the shipped sample Q&A. */
    private static List<String> samples() throws IOException {
        List<String> s = new ArrayList<>(List.of(
                "Hello world", "I'm sure they'll say it's 12345678 or 3.14159", "  leading and trailing   \n\n\tspaces \r\n",
                "def f(x):\n    return x**2  # squared\n", "中文分词测试，日本語のテキスト、カタカナ", "emoji 🤖🚀 and e\u0301 (combining) vs é",
                "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
                "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\nhmm\n</think>\n\nanswer<｜end▁of▁sentence｜>",
                "URL https://example.com/a_b-c?d=1&e=2 and path /usr/lib/x86_64-linux-gnu/libtorch.so"));
        try (InputStream in = RealTokenizerIdsTest.class.getResourceAsStream("/samples/project-qa.jsonl")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) if (!line.isBlank()) s.add(line);
        }
        return s;
    }
}
