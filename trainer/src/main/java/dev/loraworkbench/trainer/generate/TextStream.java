package dev.loraworkbench.trainer.generate;

import dev.loraworkbench.datasets.TokenizerFiles;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Generated token ids as text while they arrive: stop tokens and other special tokens left out, and a piece held back
 * while it ends inside a UTF-8 character (a token can end in the middle of one), so printing the pieces shows the reply.
 */
public final class TextStream {
    private final TokenizerFiles tokenizer;
    private final Set<Integer> stopIds;
    private final List<Integer> shown = new ArrayList<>();
    private int emitted;

    public TextStream(TokenizerFiles tokenizer, Set<Integer> stopIds) {
        this.tokenizer = tokenizer;
        this.stopIds = stopIds;
    }

    /** The text {@code token} completes: empty for a stop token or while a character is still incomplete. */
    public String accept(int token) {
        if (stopIds.contains(token)) return "";
        shown.add(token);
        // decode the whole reply each time: pieces of one character may come from several tokens
        String sofar = text();
        if (sofar.length() <= emitted || sofar.endsWith("\uFFFD")) return "";
        String piece = sofar.substring(emitted);
        emitted = sofar.length();
        return piece;
    }

    /** The whole reply so far. */
    public String text() {
        return tokenizer.decode(shown.stream().mapToInt(Integer::intValue).toArray(), true);
    }
}
