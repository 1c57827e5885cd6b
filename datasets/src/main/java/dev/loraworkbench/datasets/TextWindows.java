package dev.loraworkbench.datasets;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Raw-text training examples: a document is tokenized (optionally after a header line naming its path), ends with the
 * end-of-text token and is cut into windows of at most {@code maxSeqLen} tokens. Every token carries loss (no chat
 * template). With a {@code stride}, each window repeats the last {@code stride} tokens of the one before as context;
 * those repeated tokens carry no loss there, so every token is trained exactly once per epoch.
 *
 * @param pathHeader start each document with "File: path" and a blank line, so the model learns where things live
 */
public record TextWindows(TokenizerFiles tokenizer, int maxSeqLen, int stride, boolean pathHeader) {
    public TextWindows {
        if (maxSeqLen < 2) throw new IllegalArgumentException("max_seq_len must be at least 2, was " + maxSeqLen);
        if (stride < 0 || stride >= maxSeqLen) throw new IllegalArgumentException("stride must be in [0, max_seq_len), was " + stride);
    }

    /** The text the model reads for a document (before tokenization). */
    public String text(TextDocuments.Document d) {
        return pathHeader ? "File: " + d.name() + "\n\n" + d.text() : d.text();
    }

    /** The windows of one document, in order; a short document is one short window. */
    public List<EncodedExample> windows(TextDocuments.Document d) {
        int[] start = tokenizer.documentStartIds();
        int[] body = tokenizer.encode(text(d));
        int[] tokens = new int[start.length + body.length + 1];
        System.arraycopy(start, 0, tokens, 0, start.length);
        System.arraycopy(body, 0, tokens, start.length, body.length);
        tokens[tokens.length - 1] = tokenizer.documentEndId();
        List<EncodedExample> out = new ArrayList<>();
        int from = 0;
        while (true) {
            int to = Math.min(from + maxSeqLen, tokens.length);
            int[] ids = Arrays.copyOfRange(tokens, from, to);
            int[] labels = ids.clone();
            // a window's first token has nothing before it to be predicted from; with a stride, the repeated context was trained before
            Arrays.fill(labels, 0, from == 0 ? 1 : Math.max(1, stride), EncodedExample.IGNORE);
            out.add(new EncodedExample(ids, labels, false));
            if (to == tokens.length) return out;
            from = to - stride;
        }
    }
}
