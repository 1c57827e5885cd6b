package dev.loraworkbench.datasets;

/** An encoded example shown as text with its trained tokens (those with a loss) marked: what `data show` prints. */
public final class TrainedSpans {
    private TrainedSpans() {}

    /** The rendered text, trained spans wrapped in [[ ]] or coloured; spans are decoded whole so multi-byte characters survive. */
    public static String marked(TokenizerFiles tokenizer, EncodedExample e, boolean colour) {
        StringBuilder sb = new StringBuilder();
        int start = 0;
        for (int t = 1; t <= e.ids().length; t++) {
            boolean trained = e.labels()[start] != EncodedExample.IGNORE;
            if (t < e.ids().length && (e.labels()[t] != EncodedExample.IGNORE) == trained) continue;
            String text = tokenizer.decode(java.util.Arrays.copyOfRange(e.ids(), start, t));
            if (!trained) sb.append(text);
            else sb.append(colour ? "\u001b[32m" : "[[").append(text).append(colour ? "\u001b[0m" : "]]");
            start = t;
        }
        return sb.toString();
    }
}
