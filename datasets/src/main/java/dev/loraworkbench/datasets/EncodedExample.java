package dev.loraworkbench.datasets;

/**
 * Token ids and labels as the trainer feeds them: {@code labels[t] == ids[t]} where loss is computed
 * (assistant turns and their end-of-turn token), {@link #IGNORE} elsewhere (prompt, system, padding).
 */
public record EncodedExample(int[] ids, int[] labels, boolean truncated) {
    public static final int IGNORE = -100;

    public int trainedTokens() {
        int n = 0;
        for (int l : labels) if (l != IGNORE) n++;
        return n;
    }
}
