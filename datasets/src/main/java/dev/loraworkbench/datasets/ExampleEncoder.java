package dev.loraworkbench.datasets;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Renders a conversation through the chat template and marks which tokens carry loss.
 *
 * <p>The rendered text is split at turn boundaries: for each assistant turn i, the completion is what the
 * template renders through turn i beyond its common prefix with the rendering up to turn i plus the
 * generation prompt. Each piece is tokenized on its own and concatenated
 * (as TRL does for prompt/completion data), so the mask never depends on how BPE merges across
 * the boundary.
 */
public final class ExampleEncoder {
    private final TokenizerFiles tokenizer;
    private final int maxSeqLen;
    private final TruncationPolicy policy;

    public ExampleEncoder(TokenizerFiles tokenizer, int maxSeqLen, TruncationPolicy policy) {
        this.tokenizer = tokenizer;
        this.maxSeqLen = maxSeqLen;
        this.policy = policy;
    }

    private static int commonPrefix(String a, String b) {
        int n = Math.min(a.length(), b.length());
        int i = 0;
        while (i < n && a.charAt(i) == b.charAt(i)) i++;
        return i;
    }

    /** Empty when the example is dropped by the truncation policy. */
    public Optional<EncodedExample> encode(Example example) {
        ChatTemplate template = tokenizer.template();
        List<Message> messages = example.messages();
        List<int[]> pieces = new ArrayList<>();
        List<Boolean> trained = new ArrayList<>();
        String done = "";
        for (int i = 0; i < messages.size(); i++) {
            if (!messages.get(i).role().equals("assistant")) continue;
            String prompt = template.render(messages.subList(0, i), true);
            String full = template.render(messages.subList(0, i + 1), false);
            // the completion starts where the rendering with the reply leaves the generation prompt; they can differ
            // after the role marker (DeepSeek-R1 prompts with "<think>\n" but renders replies without it)
            int boundary = commonPrefix(prompt, full);
            if (!full.startsWith(done) || boundary < done.length()) {
                throw new DatasetException(example.source() + ": the chat template does not render turn " + i
                        + " as a continuation of the earlier turns; cannot mask the prompt");
            }
            pieces.add(tokenizer.encode(full.substring(done.length(), boundary)));
            trained.add(false);
            pieces.add(tokenizer.encode(full.substring(boundary)));
            trained.add(true);
            done = full;
        }
        int total = pieces.stream().mapToInt(p -> p.length).sum();
        int[] ids = new int[total];
        int[] labels = new int[total];
        int at = 0;
        for (int p = 0; p < pieces.size(); p++) {
            int[] piece = pieces.get(p);
            System.arraycopy(piece, 0, ids, at, piece.length);
            if (trained.get(p)) System.arraycopy(piece, 0, labels, at, piece.length);
            else Arrays.fill(labels, at, at + piece.length, EncodedExample.IGNORE);
            at += piece.length;
        }
        if (total <= maxSeqLen) return Optional.of(new EncodedExample(ids, labels, false));
        return switch (policy) {
            case DROP -> Optional.empty();
            case ERROR -> throw new DatasetException(example.source() + ": " + total + " tokens after the chat template, more than max_seq_len "
                    + maxSeqLen + "; shorten it, raise dataset.max_seq_len, or set dataset.truncation: truncate|drop");
            case TRUNCATE -> {
                EncodedExample cut = new EncodedExample(Arrays.copyOf(ids, maxSeqLen), Arrays.copyOf(labels, maxSeqLen), true);
                yield cut.trainedTokens() == 0 ? Optional.empty() : Optional.of(cut);
            }
        };
    }
}
