package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PackingTest {
    /** Example i: length from the list, every id = i, loss on all but its first token. */
    private static List<EncodedExample> examples(int... lengths) {
        List<EncodedExample> out = new ArrayList<>();
        for (int i = 0; i < lengths.length; i++) {
            int[] ids = new int[lengths[i]];
            Arrays.fill(ids, i);
            int[] labels = ids.clone();
            labels[0] = EncodedExample.IGNORE;
            out.add(new EncodedExample(ids, labels, false));
        }
        return out;
    }

    @Test
    void everyExampleLandsInExactlyOneRowWholeAndInOrderOfItsTokens() {
        Random random = new Random(5);
        int[] lengths = random.ints(200, 1, 100).toArray();
        List<EncodedExample> examples = examples(lengths);
        List<EncodedExample> rows = Packing.pack(examples, 128);
        int[] seen = new int[lengths.length];
        long tokens = 0;
        for (EncodedExample row : rows) {
            assertTrue(row.ids().length <= 128);
            assertEquals(row.ids().length, Arrays.stream(row.segmentLengths()).sum());
            int at = 0;
            for (int length : row.segmentLengths()) {
                int id = row.ids()[at];
                assertEquals(lengths[id], length, "a segment is one whole example");
                for (int t = at; t < at + length; t++) assertEquals(id, row.ids()[t]);
                assertEquals(EncodedExample.IGNORE, row.labels()[at], "labels travel with their example");
                seen[id]++;
                at += length;
            }
            tokens += row.ids().length;
        }
        for (int n : seen) assertEquals(1, n);
        assertEquals(Arrays.stream(lengths).sum(), tokens);
        long lowerBound = (Arrays.stream(lengths).sum() + 127) / 128;
        assertTrue(rows.size() <= lowerBound * 11 / 10 + 1, rows.size() + " rows for a lower bound of " + lowerBound);
        List<EncodedExample> again = Packing.pack(examples, 128);
        for (int i = 0; i < rows.size(); i++) assertArrayEquals(rows.get(i).ids(), again.get(i).ids(), "a pure function of its input");
    }

    @Test
    void bestFitPutsEachExampleInTheFullestRowWithRoom() {
        // longest first: 60 opens row 0, 50 joins it (18 left), 40 opens row 1, 30 and 20 join it (38 left), 18 fills row 0 exactly
        List<EncodedExample> rows = Packing.pack(examples(60, 50, 40, 30, 20, 18), 128);
        assertEquals(2, rows.size());
        assertArrayEquals(new int[] {60, 50, 18}, rows.get(0).segmentLengths());
        assertArrayEquals(new int[] {40, 30, 20}, rows.get(1).segmentLengths());
        List<EncodedExample> alone = examples(10);
        assertSame(alone.get(0), Packing.pack(alone, 16).get(0), "a row of one example is that example");
        assertThrows(IllegalArgumentException.class, () -> Packing.pack(examples(20), 16));
    }
}
