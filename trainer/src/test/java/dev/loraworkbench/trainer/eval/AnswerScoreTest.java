package dev.loraworkbench.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AnswerScoreTest {
    private static final double EPS = 1e-12;

    @Test
    void squadNormalisation() {
        assertEquals("quick brown fox", AnswerScore.normalize("The quick, brown fox!"));
        assertEquals("anthem theory", AnswerScore.normalize("An anthem; the theory."));   // articles only as whole words
        assertEquals("theend", AnswerScore.normalize("the-end"));                         // punctuation goes first, so no word boundary is left
        assertEquals("thething", AnswerScore.normalize("the_thing"));                     // '_' is string.punctuation
        assertEquals("“quoted” — dash", AnswerScore.normalize("  “Quoted”\t—\u00a0dash "));  // non-ASCII punctuation stays; NBSP is space
        assertEquals("", AnswerScore.normalize("a an the ..."));
    }

    @Test
    void exactMatchAndF1AsSquadComputesThem() {
        var s = AnswerScore.of("The TrainingRun class.", "trainingrun class");
        assertEquals(1, s.exactMatch());
        assertEquals(1, s.tokenF1(), EPS);
        // a repeated token counts as often as both sides have it: [x, x, b, c] vs [x, b, b] share one x and one b;
        // P = 2/4, R = 2/3, F1 = 2PR / (P + R) = 4/7
        var r = AnswerScore.of("x x b c", "x b b");
        assertEquals(0, r.exactMatch());
        assertEquals(4.0 / 7, r.tokenF1(), EPS);
        assertEquals(0, AnswerScore.of("", "something").tokenF1());
        assertEquals(0, AnswerScore.of("nothing shared", "at all").tokenF1());
    }

    @Test
    void rougeLIsTheLcsFMeasure() {
        // got: [the, cat, sat, on, the, mat] want: [the, cat, lay, on, a, mat]: LCS = the cat on mat = 4; P = 4/6, R = 4/6
        assertEquals(4.0 / 6, AnswerScore.of("The cat sat on the mat.", "the cat lay on a mat").rougeL(), EPS);
        // order matters: LCS of [a b c d] and [d c b a] is 1; P = R = 1/4
        assertEquals(0.25, AnswerScore.of("a b c d", "d c b a").rougeL(), EPS);
        // tokens are runs of [a-z0-9]: "Foo_Reader.read()" -> foo, reader, read; P = 3/3, R = 3/4 -> 6/7
        assertEquals(6.0 / 7, AnswerScore.of("Foo_Reader.read()", "foo reader read it").rougeL(), EPS);
        assertEquals(0, AnswerScore.of("", "x").rougeL());
    }

    @Test
    void reasoningIsSplitOffBeforeScoring() {
        assertEquals(new ThinkSplit("plan it", "The answer."), ThinkSplit.of("<think>plan it</think>\n\nThe answer.", false));
        assertEquals(new ThinkSplit("plan it", "The answer."), ThinkSplit.of("plan it</think>The answer.", true));
        assertEquals(new ThinkSplit("still thinking", ""), ThinkSplit.of("still thinking", true));
        assertEquals(new ThinkSplit("", "plain answer"), ThinkSplit.of(" plain answer ", false));
    }

    /** The official script's functions, run by Python itself, on strings chosen to differ where Java and Python could. */
    @Test
    void agreesWithTheSquadScriptRunByPython() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        assumeTrue(Files.isExecutable(python), "no /usr/bin/python3");
        List<String[]> pairs = new ArrayList<>();
        String[] pieces = {"The", "the", "A", "an", "AN", "anthem", "Theory", "FooReader", "foo_reader", "read()", "don't", "x,y", "ÉCOLE",
                "naïve", "İstanbul", "ΟΔΟΣ", "日本語", "the日本", "ß", "Ǆ", "–", "—", "“q”", "1.5", "v2", "a.b", "!!", "\u00a0", "\t", "\u2003",
                "\u3000", "\u0085", "\u001c", "e\u0301", "_", "the\u0301", "ａｎ", "Ⅳ", "²"};
        Random random = new Random(17);
        for (int i = 0; i < 400; i++) pairs.add(new String[] {sentence(random, pieces), sentence(random, pieces)});
        pairs.add(new String[] {"x x b c", "x b b"});
        ObjectMapper json = new ObjectMapper();
        Process p = new ProcessBuilder(python.toString(), Path.of(getClass().getResource("/squad/score.py").toURI()).toString()).start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(json.writeValueAsBytes(pairs));
        }
        JsonNode expected = json.readTree(p.getInputStream());
        assertEquals(0, p.waitFor(), new String(p.getErrorStream().readAllBytes()));
        for (int i = 0; i < pairs.size(); i++) {
            String got = pairs.get(i)[0], want = pairs.get(i)[1];
            String where = "pair " + i + ": '" + got + "' vs '" + want + "'";
            assertEquals(expected.get(i).get(2).asText(), AnswerScore.normalize(got), where);
            AnswerScore s = AnswerScore.of(got, want);
            assertEquals(expected.get(i).get(0).asDouble(), s.exactMatch(), where);
            assertEquals(expected.get(i).get(1).asDouble(), s.tokenF1(), 1e-12, where);
        }
    }

    private static String sentence(Random random, String[] pieces) {
        StringBuilder sb = new StringBuilder();
        int n = random.nextInt(7);
        for (int i = 0; i < n; i++) sb.append(pieces[random.nextInt(pieces.length)]).append(random.nextInt(4) == 0 ? "" : " ");
        return sb.toString();
    }
}
