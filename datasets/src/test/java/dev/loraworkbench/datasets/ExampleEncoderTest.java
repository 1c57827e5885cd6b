package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExampleEncoderTest {
    @TempDir Path dir;
    TokenizerFiles tok;

    @BeforeEach
    void load() throws Exception { tok = TokenizerFiles.load(TestTokenizers.chatml(dir)); }

    @AfterEach
    void close() { tok.close(); }

    /** The text of the tokens that carry loss, in order, with a '|' between separate trained spans. */
    private String trainedText(EncodedExample e) {
        StringBuilder sb = new StringBuilder();
        List<Integer> span = new ArrayList<>();
        for (int t = 0; t <= e.ids().length; t++) {
            boolean trained = t < e.ids().length && e.labels()[t] != EncodedExample.IGNORE;
            if (trained) span.add(e.ids()[t]);
            else if (!span.isEmpty()) {
                if (sb.length() > 0) sb.append('|');
                sb.append(tok.decode(span.stream().mapToInt(Integer::intValue).toArray()));
                span.clear();
            }
        }
        return sb.toString();
    }

    @Test
    void chatTemplateRendersChatMl() {
        String text = tok.template().render(List.of(Message.user("Hi?"), Message.assistant("Hello.")), false);
        assertEquals("<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n", text);
        assertEquals("<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n", tok.template().render(List.of(Message.user("Hi?")), true));
    }

    @Test
    void lossOnlyOnTheAnswerAndItsEndOfTurn() {
        var encoder = new ExampleEncoder(tok, 512, TruncationPolicy.ERROR);
        EncodedExample e = encoder.encode(new Example(List.of(Message.system("Be brief."), Message.user("What does the trainer do?"),
                Message.assistant("It trains LoRA adapters.")), "test")).orElseThrow();
        assertEquals("It trains LoRA adapters.<|im_end|>", trainedText(e), "the newline after the end-of-turn token is not trained");
        assertEquals(tok.template().render(List.of(Message.system("Be brief."), Message.user("What does the trainer do?"),
                Message.assistant("It trains LoRA adapters.")), false), tok.decode(e.ids()), "ids are the whole rendered conversation");
        for (int t = 0; t < e.ids().length; t++) {
            if (e.labels()[t] != EncodedExample.IGNORE) assertEquals(e.ids()[t], e.labels()[t]);
        }
    }

    @Test
    void everyAssistantTurnOfAConversationIsTrained() {
        var encoder = new ExampleEncoder(tok, 512, TruncationPolicy.ERROR);
        EncodedExample e = encoder.encode(new Example(List.of(Message.user("one?"), Message.assistant("first."),
                Message.user("two?"), Message.assistant("second.")), "test")).orElseThrow();
        assertEquals("first.<|im_end|>|second.<|im_end|>", trainedText(e));
    }

    @Test
    void truncationPolicies() {
        Example longOne = new Example(List.of(Message.user("What does the trainer do? ".repeat(20)), Message.assistant("It trains.")), "data.jsonl:7");
        var error = assertThrows(DatasetException.class, () -> new ExampleEncoder(tok, 32, TruncationPolicy.ERROR).encode(longOne));
        assertTrue(error.getMessage().startsWith("data.jsonl:7: "), error.getMessage());
        assertTrue(error.getMessage().contains("max_seq_len 32"), error.getMessage());
        assertTrue(new ExampleEncoder(tok, 32, TruncationPolicy.DROP).encode(longOne).isEmpty());
        // truncating a long prompt leaves no completion tokens: dropped rather than trained on nothing
        assertTrue(new ExampleEncoder(tok, 32, TruncationPolicy.TRUNCATE).encode(longOne).isEmpty());
        Example longAnswer = new Example(List.of(Message.user("hi"), Message.assistant("It trains LoRA adapters. ".repeat(20))), "x");
        EncodedExample cut = new ExampleEncoder(tok, 32, TruncationPolicy.TRUNCATE).encode(longAnswer).orElseThrow();
        assertEquals(32, cut.ids().length);
        assertTrue(cut.truncated());
        assertFalse(cut.trainedTokens() == 0);
    }
}
