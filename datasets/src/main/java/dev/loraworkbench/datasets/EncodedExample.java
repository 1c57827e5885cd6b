package dev.loraworkbench.datasets;

/**
 * Token ids and labels as the trainer feeds them: {@code labels[t] == ids[t]} where loss is computed
 * (assistant turns and their end-of-turn token), {@link #IGNORE} elsewhere (prompt, system, padding).
 *
 * @param segments for a packed row, the lengths of the examples it holds, in order (attention and positions restart at
 *     each); null for one example
 */
public record EncodedExample(int[] ids, int[] labels, boolean truncated, int[] segments) {
    public static final int IGNORE = -100;

    public EncodedExample(int[] ids, int[] labels, boolean truncated) {
        this(ids, labels, truncated, null);
    }

    public int trainedTokens() {
        int n = 0;
        for (int l : labels) if (l != IGNORE) n++;
        return n;
    }

    /** Lengths of the examples in this row: the packed ones, or the whole row as one. */
    public int[] segmentLengths() {
        return segments == null ? new int[] {ids.length} : segments.clone();
    }
}
