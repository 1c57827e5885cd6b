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
    private final ReasoningPolicy reasoning;
    /** End-of-turn candidates: the special tokens, and the eos token even where it is plain text. */
    private final List<String> markers;

    public ExampleEncoder(TokenizerFiles tokenizer, int maxSeqLen, TruncationPolicy policy) {
        this(tokenizer, maxSeqLen, policy, ReasoningPolicy.TEMPLATE);
    }

    public ExampleEncoder(TokenizerFiles tokenizer, int maxSeqLen, TruncationPolicy policy, ReasoningPolicy reasoning) {
        this.tokenizer = tokenizer;
        this.maxSeqLen = maxSeqLen;
        this.policy = policy;
        this.reasoning = reasoning;
        List<String> markers = new ArrayList<>(tokenizer.specialTokens());
        if (!tokenizer.eosToken().isEmpty()) markers.add(tokenizer.eosToken());
        this.markers = List.copyOf(markers);
    }

    private static final String THINK = "<think>\n";

    /** True when the model's generation prompt opens a think block (DeepSeek-R1 distills): dataset.reasoning then matters. */
    public static boolean generationPromptOpensThink(TokenizerFiles tokenizer) {
        return tokenizer.template().render(List.of(Message.user("?")), true).endsWith(THINK);
    }

    /**
     * The conversation as trained: the template's rendering, or with {@code KEEP} / {@code EMPTY} the last reply
     * rewritten as the inference prompt plus the think block and answer the model should generate.
     */
    /** The text to train on and, when the last reply was rewritten for a reasoning policy, where that reply starts (else -1). */
    private record Rendered(String text, int rewrittenReplyStart) {}

    private Rendered renderForTraining(List<Message> messages, String source) {
        ChatTemplate template = tokenizer.template();
        String full = template.render(messages, false);
        int last = messages.size() - 1;
        if (reasoning == ReasoningPolicy.TEMPLATE || !messages.get(last).role().equals("assistant")) return new Rendered(full, -1);
        String prompt = template.render(messages.subList(0, last), true);
        int start = replyStart(messages, last, full);
        int end = endOfTurn(full, start);
        if (end < 0) throw noEndOfTurn(source, last);
        String endToken = full.substring(endTokenStart(full, start, end), end);
        String content = messages.get(last).content();
        String thought = "";
        String answer = content;
        int close = content.lastIndexOf("</think>");
        if (close >= 0) {
            answer = content.substring(close + "</think>".length()).replaceFirst("^\n+", "");
            String before = content.substring(0, close);
            int open = before.indexOf("<think>");
            thought = (open >= 0 ? before.substring(open + "<think>".length()) : before).replaceAll("^\n+|\n+$", "");
        }
        if (reasoning == ReasoningPolicy.EMPTY) thought = "";
        String block = THINK + thought + "\n</think>\n\n" + answer;
        if (prompt.endsWith(THINK)) block = block.substring(THINK.length());
        return new Rendered(prompt + block + endToken + full.substring(end), prompt.length());
    }

    /** Where the end-of-turn marker that ends at {@code end} begins. */
    private int endTokenStart(String text, int from, int end) {
        for (String marker : markers) if (end - marker.length() >= from && text.startsWith(marker, end - marker.length())) return end - marker.length();
        return end;
    }

    private DatasetException noEndOfTurn(String source, int turn) {
        return new DatasetException(source + ": no end-of-turn special token follows assistant turn " + turn
                + " in the rendered chat template; the template or tokenizer.json (added_tokens with \"special\": true) is not usable for training");
    }


    /** Stands in for a reply to find where the template puts reply content (private-use characters: no template alters them). */
    private static final String SENTINEL = "\uE000reply\uE001";

    /**
     * Where assistant turn i's reply starts in {@code full}: where it leaves the rendering of the turns before i with
     * the generation prompt, but never past where the template puts the reply's content. The limit matters when
     * the generation prompt runs on past the role marker: R1's ends in "&lt;think&gt;\n", which shares its first
     * character with a reply starting "&lt;b&gt;".
     */
    private int replyStart(List<Message> messages, int i, String full) {
        ChatTemplate template = tokenizer.template();
        int start = commonPrefix(template.render(messages.subList(0, i), true), full);
        List<Message> probe = new ArrayList<>(messages.subList(0, i));
        probe.add(Message.assistant(SENTINEL));
        String withSentinel = template.render(probe, false);
        int at = withSentinel.indexOf(SENTINEL);
        // only where that rendering agrees with the real one up to the reply (Qwen3 renders a last turn differently)
        if (at >= 0 && commonPrefix(withSentinel, full) >= at) start = Math.min(start, at);
        return start;
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
        Rendered rendered = renderForTraining(messages, example.source());
        String full = rendered.text();
        List<int[]> pieces = new ArrayList<>();
        List<Boolean> trained = new ArrayList<>();
        int done = 0;
        for (int i = 0; i < messages.size(); i++) {
            if (!messages.get(i).role().equals("assistant")) continue;
            // a rewritten last reply starts right after the inference prompt, "<think>\n" included in the prompt
            int start = i == messages.size() - 1 && rendered.rewrittenReplyStart() >= 0 ? rendered.rewrittenReplyStart() : replyStart(messages, i, full);
            if (start < done) {
                throw new DatasetException(example.source() + ": the chat template does not render turn " + i
                        + " after the earlier turns; cannot mask the prompt");
            }
            int end = endOfTurn(full, start);
            if (end < 0) throw noEndOfTurn(example.source(), i);
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
