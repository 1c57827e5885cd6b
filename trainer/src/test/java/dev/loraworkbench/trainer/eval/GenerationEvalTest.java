package dev.loraworkbench.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.datasets.Message;
import dev.loraworkbench.datasets.RealTokenizers;
import dev.loraworkbench.datasets.TokenizerFiles;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerationEvalTest {
    @TempDir Path dir;

    /** The R1 distill's prompt opens '<think>': its reply is reasoning, '</think>', answer; only the answer is scored. */
    @Test
    void aReasoningModelsAnswerIsScoredAfterItsThinking() throws Exception {
        try (TokenizerFiles r1 = TokenizerFiles.load(RealTokenizers.withChatTemplate(RealTokenizers.R1_DISTILL, dir))) {
            int eos = r1.tokenId(r1.eosToken());
            var eval = new GenerationEval(r1, Set.of(eos), 64, 4);
            int[] reply = r1.encode("The user asks about FooReader. It reads foo files.\n</think>\n\nFooReader reads foo files.");
            List<Integer> tokens = new java.util.ArrayList<>(Arrays.stream(reply).boxed().toList());
            tokens.add(eos);
            var q = new EvalQuestion(List.of(Message.user("What does FooReader do?")), "<think>\nlook it up\n</think>\n\nFooReader reads foo files.", "t");
            GenerationEval.Answer a = eval.answer(q, tokens);
            assertEquals("FooReader reads foo files.", a.split().answer());
            assertEquals("The user asks about FooReader. It reads foo files.", a.split().reasoning());
            assertEquals(1, a.score().exactMatch(), "scored against the reference's answer, after its own reasoning");
            assertTrue(a.thinkTokens() > 5, "reasoning length in tokens: " + a.thinkTokens());
            assertTrue(!a.generated().contains("<｜end▁of▁sentence｜>"), "the stop token is not part of the answer: " + a.generated());
        }
    }
}
