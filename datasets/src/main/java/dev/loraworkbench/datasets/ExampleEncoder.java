package dev.loraworkbench.datasets;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Renders a conversation through the chat template and marks which tokens carry loss.
 *
 * <p>The text trained on is the whole conversation rendered once, as transformers' apply_chat_template does.
 * Each assistant turn i is located in it from the template itself: the reply starts where that text leaves
 * the rendering of turns before i with the generation prompt (so a prompt ending in "&lt;think&gt;\n", as
 * DeepSeek-R1's does, still marks the reply right after the role marker), and it ends right after the first
 * special token that follows (the end-of-turn token: {@code <|im_end|>}, {@code <|eot_id|>},
 * {@code <｜end▁of▁sentence｜>}). Whatever the template adds after that token (a newline, a next header) stays
 * prompt. Templates that re-render earlier turns differently once more turns follow (Qwen3 drops old
 * reasoning) are handled too, because the spans are found in the final rendering. Each span is tokenized
 * on its own and the pieces concatenated (as TRL does for prompt/completion data), so the mask never
 * depends on how BPE merges across a boundary.
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

    /** Index just past the first special token (or the eos token) at or after {@code from}, or -1. */
    private int endOfTurn(String text, int from) {
        int best = -1;
        int bestEnd = -1;
        List<String> markers = new ArrayList<>(tokenizer.specialTokens());
        if (!tokenizer.eosToken().isEmpty()) markers.add(tokenizer.eosToken());
        for (String special : markers) {
            int at = text.indexOf(special, from);
            if (at >= 0 && (best < 0 || at < best || (at == best && at + special.length() > bestEnd))) {
                best = at;
                bestEnd = at + special.length();
            }
        }
        return bestEnd;
    }

    /** Empty when the example is dropped by the truncation policy. */
    public Optional<EncodedExample> encode(Example example) {
        ChatTemplate template = tokenizer.template();
        List<Message> messages = example.messages();
        String full = template.render(messages, false);
        List<int[]> pieces = new ArrayList<>();
        List<Boolean> trained = new ArrayList<>();
        int done = 0;
        for (int i = 0; i < messages.size(); i++) {
            if (!messages.get(i).role().equals("assistant")) continue;
            int start = commonPrefix(template.render(messages.subList(0, i), true), full);
            if (start < done) {
                throw new DatasetException(example.source() + ": the chat template does not render turn " + i
                        + " after the earlier turns; cannot mask the prompt");
            }
            int end = endOfTurn(full, start);
            if (end < 0) {
                throw new DatasetException(example.source() + ": no end-of-turn special token follows assistant turn " + i
                        + " in the rendered chat template; the template or tokenizer.json (added_tokens with \"special\": true) is not usable for training");
            }
            pieces.add(tokenizer.encode(full.substring(done, start)));
            trained.add(false);
            pieces.add(tokenizer.encode(full.substring(start, end)));
            trained.add(true);
            done = end;
        }
        if (done < full.length()) {
            pieces.add(tokenizer.encode(full.substring(done)));
            trained.add(false);
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
