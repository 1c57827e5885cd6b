package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetStatsTest {
    @TempDir Path dir;

    @Test
    void distributionNumbers() {
        var d = DatasetStats.Distribution.of(new int[] {5, 1, 9, 3, 7, 2, 8, 4, 6, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
        assertEquals(1, d.min());
        assertEquals(10, d.median());
        assertEquals(19, d.p95());
        assertEquals(20, d.max());
        assertEquals(10.5, d.mean(), 1e-9);
        String h = d.histogram(4, 10);
        assertEquals(4, h.lines().count(), h);
        assertTrue(h.lines().allMatch(l -> l.endsWith(" 5")), h);
    }

    @Test
    void countsMatchTheEncoderAndTheTruncationPolicy() throws Exception {
        try (TokenizerFiles tok = TokenizerFiles.load(TestTokenizers.chatml(dir))) {
            Example a = new Example(List.of(Message.user("What does the trainer do?"), Message.assistant("It trains LoRA adapters.")), "a");
            Example b = new Example(List.of(Message.user("Which file holds the recipe?"), Message.assistant("The recipe file.")), "b");
            Example longOne = new Example(List.of(Message.user("hi"), Message.assistant("The recipe is a YAML file. ".repeat(30))), "c");
            ExampleEncoder encoder = new ExampleEncoder(tok, 64, TruncationPolicy.TRUNCATE);
            DatasetStats s = DatasetStats.of(List.of(a, b, a, longOne), encoder);
            assertEquals(4, s.examples());
            assertEquals(1, s.duplicates());
            assertEquals(1, s.truncated());
            assertEquals(64, s.total().max());
            long expectedTokens = 0, expectedTrained = 0;
            for (Example e : List.of(a, b, a, longOne)) {
                EncodedExample x = encoder.encode(e).orElseThrow();
                expectedTokens += x.ids().length;
                expectedTrained += x.trainedTokens();
            }
            assertEquals(expectedTokens, s.tokensPerEpoch());
            assertEquals(expectedTrained, s.trainedTokensPerEpoch());
            assertEquals(s.total().mean(), s.prompt().mean() + s.completion().mean(), 1e-9);
        }
    }
}
