package dev.loraworkbench.datasets;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Raw-text training examples: a document is tokenized (optionally after a header line naming its path), ends with the
 * end-of-text token and is cut into windows of at most {@code maxSeqLen} tokens. Every token carries loss (no chat
 * template). With a {@code stride}, each window repeats the last {@code stride} tokens of the one before as context;
 * those repeated tokens carry no loss there (at least one is repeated, so that each window's first new token is predicted
 * from the one before): every token but the document's first carries loss exactly once per epoch. The last window of a long
 * document reaches back to full length the same way (context, not loss), so no window is a stub of a few tokens.
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
        int[] opening = tokenizer.documentStartIds();
        int[] body = tokenizer.encode(text(d));
        int[] tokens = new int[opening.length + body.length + 1];
        System.arraycopy(opening, 0, tokens, 0, opening.length);
        System.arraycopy(body, 0, tokens, opening.length, body.length);
        tokens[tokens.length - 1] = tokenizer.documentEndId();
        List<EncodedExample> out = new ArrayList<>();
        int from = 0;
        int trainedUpTo = 0; // tokens before this index carried loss in an earlier window
        while (true) {
            int to = Math.min(from + maxSeqLen, tokens.length);
            // the last window reaches back to full length: its tail gets a full window's context, and no window is a stub
            int start = to == tokens.length ? Math.max(0, to - maxSeqLen) : from;
            int[] ids = Arrays.copyOfRange(tokens, start, to);
            int[] labels = ids.clone();
            // a window's first token has nothing before it to be predicted from; repeated context was trained before
            Arrays.fill(labels, 0, Math.max(1, trainedUpTo - start), EncodedExample.IGNORE);
            out.add(new EncodedExample(ids, labels, false));
            if (to == tokens.length) return out;
            trainedUpTo = to;
            from = to - Math.max(1, stride); // at least the token before: every token but the document's first is predicted once
        }
    }
}
