package dev.loraworkbench.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.datasets.Example;
import dev.loraworkbench.datasets.Message;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class EvalQuestionTest {
    @Test
    void theLastAnswerIsTheReferenceAndEverythingBeforeItThePrompt() {
        var e = new Example(List.of(Message.system("be brief"), Message.user("Q1"), Message.assistant("A1"), Message.user("Q2"),
                Message.assistant("A2")), "data.jsonl:7");
        EvalQuestion q = EvalQuestion.of(e);
        assertEquals("A2", q.reference());
        assertEquals("Q2", q.question());
        assertEquals(4, q.prompt().size());
    }

    @Test
    void samplesAreChosenOnceWithTheSeedInDataOrder() {
        List<Integer> items = IntStream.range(0, 50).boxed().toList();
        List<Integer> a = EvalQuestion.chosen(items, 7, 42);
        assertEquals(a, EvalQuestion.chosen(items, 7, 42), "the same questions at every evaluation");
        assertEquals(7, a.size());
        assertEquals(a.stream().sorted().toList(), a, "in data order");
        assertNotEquals(a, EvalQuestion.chosen(items, 7, 43));
        assertNotEquals(items.subList(0, 7), a, "spread over the set, not its head");
        assertSame(items, EvalQuestion.chosen(items, null, 42));
        assertSame(items, EvalQuestion.chosen(items, 50, 42));
    }

    @Test
    void samplesTableEscapesMarkdown() {
        var q = new EvalQuestion(List.of(Message.user("What does a|b do?")), "It\nsplits.", "x");
        var answer = new GenerationEval.Answer(q, "pipes | and\nlines", ThinkSplit.of("pipes | and\nlines", false), AnswerScore.of("x", "y"), 0);
        var report = new GenerationEval.Report(List.of(answer, answer), 0, 0, 0, null, 0.1);
        String table = GenerationEval.samplesMarkdown(report, 1);
        assertEquals("| question | reference | generated |\n|---|---|---|\n| What does a\\|b do? | It<br>splits. | pipes \\| and<br>lines |\n", table);
        assertTrue(GenerationEval.samplesMarkdown(report, 5).lines().count() == 4, "at most as many rows as answers");
    }
}
