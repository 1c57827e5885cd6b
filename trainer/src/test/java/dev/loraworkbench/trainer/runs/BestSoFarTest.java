package dev.loraworkbench.trainer.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BestSoFarTest {
    /** Feeds (step, value) evaluations and returns the state after each. */
    private static BestSoFar feed(BestSoFar b, double[][] evals) {
        for (double[] e : evals) b = b.after((int) e[0], e[1]);
        return b;
    }

    @Test
    void lossIsBestWhenLowest() {
        BestSoFar b = BestSoFar.none("eval/loss");
        assertNull(b.value());
        b = b.after(10, 2.0);
        assertTrue(b.setAt(10));
        b = b.after(20, 1.5);
        assertTrue(b.setAt(20));
        b = b.after(30, 1.7);
        assertFalse(b.setAt(30));
        assertEquals(new BestSoFar("eval/loss", 1.5, 20, 1), b);
        b = b.after(40, 1.5); // equal is no improvement, as transformers' EarlyStoppingCallback counts it
        assertEquals(new BestSoFar("eval/loss", 1.5, 20, 2), b);
        assertTrue(b.patienceRunOut(2));
        assertFalse(b.patienceRunOut(3));
        assertFalse(b.patienceRunOut(0), "patience 0 never stops");
    }

    @Test
    void scoresAreBestWhenHighestAndImprovementResetsPatience() {
        BestSoFar b = feed(BestSoFar.none("eval/token_f1"), new double[][] {{5, 0.2}, {10, 0.1}, {15, 0.15}, {20, 0.3}, {25, 0.3}});
        assertEquals(new BestSoFar("eval/token_f1", 0.3, 20, 1), b);
        assertEquals(new BestSoFar("eval/perplexity", 800.0, 5, 1),
                feed(BestSoFar.none("eval/perplexity"), new double[][] {{5, 800}, {10, 900}}), "perplexity is lower-better");
        assertEquals(new BestSoFar("eval/rouge_l", 0.4, 5, 2), feed(BestSoFar.none("eval/rouge_l"), new double[][] {{5, 0.4}, {10, Double.NaN}, {15, 0.1}}),
                "NaN never improves");
    }

    @Test
    void describesItself() {
        assertEquals("none yet", BestSoFar.none("eval/loss").describe());
        assertEquals("eval/loss 1.2500 at step 7", BestSoFar.none("eval/loss").after(7, 1.25).describe());
    }
}
