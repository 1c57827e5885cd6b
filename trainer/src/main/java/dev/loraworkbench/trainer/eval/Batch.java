package dev.loraworkbench.trainer.eval;

import dev.loraworkbench.datasets.EncodedExample;
import java.util.Arrays;
import java.util.List;

/**
 * A right-padded micro-batch: ids [B, T] and pre-shifted targets (target[t] = label[t+1], -100 where no loss). A packed
 * row's {@code segments} (the lengths of its examples) keep each example apart: no target crosses from one into the next.
 */
public record Batch(long[] ids, long[] targets, int[] lengths, int[][] segments, int rows, int seqLen) {

    public static Batch of(List<EncodedExample> examples, int padId) {
        int rows = examples.size();
        int seq = examples.stream().mapToInt(e -> e.ids().length).max().orElseThrow();
        long[] ids = new long[rows * seq];
        long[] targets = new long[rows * seq];
        int[] lengths = new int[rows];
        int[][] segments = new int[rows][];
        Arrays.fill(ids, padId);
        Arrays.fill(targets, EncodedExample.IGNORE);
        for (int r = 0; r < rows; r++) {
            EncodedExample e = examples.get(r);
            lengths[r] = e.ids().length;
            segments[r] = e.segmentLengths();
            for (int t = 0; t < e.ids().length; t++) ids[r * seq + t] = e.ids()[t];
            int start = 0;
            for (int length : segments[r]) {
                for (int t = start; t + 1 < start + length; t++) targets[r * seq + t] = e.labels()[t + 1];
                start += length;
            }
        }
        return new Batch(ids, targets, lengths, segments, rows, seq);
    }

    /** Rows that hold more than one example. */
    public boolean packed() {
        return Arrays.stream(segments).anyMatch(s -> s.length > 1);
    }

    public long targetTokens() {
        return Arrays.stream(targets).filter(t -> t >= 0).count();
    }

    public long inputTokens() {
        return Arrays.stream(lengths).sum();
    }
}
