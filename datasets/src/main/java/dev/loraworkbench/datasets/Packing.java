package dev.loraworkbench.datasets;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;

/**
 * Padding-free batches: examples packed into rows of at most {@code maxSeqLen} tokens by best-fit decreasing (the
 * longest first, each into the fullest row it still fits, as TRL's default "bfd" strategy does). A packed row keeps
 * its examples' lengths as segments: the decoder's attention never crosses them and positions restart at each, so a
 * row computes exactly what its examples computed alone.
 */
public final class Packing {
    private Packing() {}

    /** Rows in a fixed order (a pure function of the input); a row of one example is that example unchanged. */
    public static List<EncodedExample> pack(List<EncodedExample> examples, int maxSeqLen) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < examples.size(); i++) {
            int length = examples.get(i).ids().length;
            if (length > maxSeqLen) throw new IllegalArgumentException("example " + i + " has " + length + " tokens, over max_seq_len " + maxSeqLen);
            order.add(i);
        }
        order.sort(Comparator.comparingInt((Integer i) -> -examples.get(i).ids().length).thenComparingInt(i -> i));
        List<List<EncodedExample>> rows = new ArrayList<>();
        List<Integer> used = new ArrayList<>();
        TreeMap<Integer, List<Integer>> rowsBySpace = new TreeMap<>(); // space left -> rows with that much (best fit: the least that suffices)
        for (int i : order) {
            EncodedExample e = examples.get(i);
            var fit = rowsBySpace.ceilingEntry(e.ids().length);
            int row;
            if (fit == null) {
                row = rows.size();
                rows.add(new ArrayList<>());
                used.add(0);
            } else {
                row = fit.getValue().remove(0);
                if (fit.getValue().isEmpty()) rowsBySpace.remove(fit.getKey());
            }
            rows.get(row).add(e);
            used.set(row, used.get(row) + e.ids().length);
            int space = maxSeqLen - used.get(row);
            if (space > 0) rowsBySpace.computeIfAbsent(space, k -> new ArrayList<>()).add(row);
        }
        return rows.stream().map(Packing::row).toList();
    }

    /** The examples one after another, their lengths as segments. */
    static EncodedExample row(List<EncodedExample> parts) {
        if (parts.size() == 1) return parts.get(0);
        int total = parts.stream().mapToInt(e -> e.ids().length).sum();
        int[] ids = new int[total];
        int[] labels = new int[total];
        int[] segments = new int[parts.size()];
        int at = 0;
        boolean truncated = false;
        for (int k = 0; k < parts.size(); k++) {
            EncodedExample e = parts.get(k);
            System.arraycopy(e.ids(), 0, ids, at, e.ids().length);
            System.arraycopy(e.labels(), 0, labels, at, e.labels().length);
            segments[k] = e.ids().length;
            at += e.ids().length;
            truncated |= e.truncated();
        }
        return new EncodedExample(ids, labels, truncated, segments);
    }
}
