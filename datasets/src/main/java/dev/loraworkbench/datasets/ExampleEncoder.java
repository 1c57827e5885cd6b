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
     * True when the template renders a system prompt into an inference prompt but not into a conversation that ends
     * in a reply (Mistral templates attach it to the user turn that is the last message): training then never sees it.
     */
    public static boolean templateDropsSystemPromptBeforeReplies(TokenizerFiles tokenizer) {
        String marker = "\uE002system\uE003";
        List<Message> prompt = List.of(Message.system(marker), Message.user("?"));
        List<Message> trained = List.of(Message.system(marker), Message.user("?"), Message.assistant("!"));
        return tokenizer.template().render(prompt, true).contains(marker) && !tokenizer.template().render(trained, false).contains(marker);
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
        int start = replyStart(messages, last, full, 0);
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
     * Where assistant turn i's reply starts in {@code full}: right after the assistant header the generation prompt
     * adds, since what follows it is what the model generates at inference. Two renderings find it:
     * <ul>
     *   <li>the reply's own text begins where {@code full} and the same conversation with reply i replaced by a
     *       sentinel first differ (before the reply, templates render both alike);</li>
     *   <li>the header is what rendering turns 0..i-1 with {@code add_generation_prompt} adds to rendering them
     *       without: Qwen's "&lt;|im_start|&gt;assistant\n", R1's "&lt;｜Assistant｜&gt;&lt;think&gt;\n", nothing for Mistral.</li>
     * </ul>
     * The reply starts at its text when the header, or a head of it (R1's earlier replies have no think block), ends
     * there; after the header's last occurrence before the text when the template puts its own text between them
     * (Qwen3's empty think block, which the model generates too); at its text when there is no header. Comparing
     * with the earlier turns' rendering directly would fail where that rendering is no prefix of the conversation:
     * Mistral puts the system prompt only into a final user turn.
     *
     * @param notBefore end of the previous reply: the header found must come after it
     */
    private int replyStart(List<Message> messages, int i, String full, int notBefore) {
        ChatTemplate template = tokenizer.template();
        List<Message> probe = new ArrayList<>(messages);
        probe.set(i, Message.assistant(SENTINEL));
        int text = commonPrefix(template.render(probe, false), full);
        String earlier = template.render(messages.subList(0, i), false);
        String prompted = template.render(messages.subList(0, i), true);
        String header = prompted.substring(commonPrefix(earlier, prompted));
        if (header.isEmpty()) return text;
        for (int k = header.length(); k > 0; k--) {
            if (text - k >= notBefore && full.startsWith(header.substring(0, k), text - k)) return text;
        }
        int at = full.lastIndexOf(header, text - header.length());
        return at >= notBefore ? at + header.length() : text;
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
            int start = i == messages.size() - 1 && rendered.rewrittenReplyStart() >= 0 ? rendered.rewrittenReplyStart() : replyStart(messages, i, full, done);
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
