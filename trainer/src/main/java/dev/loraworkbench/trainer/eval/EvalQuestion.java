package dev.loraworkbench.trainer.eval;

import dev.loraworkbench.datasets.Example;
import dev.loraworkbench.datasets.Message;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** One eval question: the conversation up to its last answer (what the model is asked), and that answer (the reference). */
public record EvalQuestion(List<Message> prompt, String reference, String source) {

    /** The example's last assistant turn is the reference; everything before it is the prompt. */
    public static EvalQuestion of(Example e) {
        List<Message> m = e.messages();
        int last = m.size() - 1;
        while (last >= 0 && !m.get(last).role().equals("assistant")) last--;
        if (last < 1) throw new IllegalArgumentException(e.source() + ": no assistant answer after a prompt");
        return new EvalQuestion(List.copyOf(m.subList(0, last)), m.get(last).content(), e.source());
    }

    /** The last user message: what a person would call the question. */
    public String question() {
        for (int i = prompt.size() - 1; i >= 0; i--) if (prompt.get(i).role().equals("user")) return prompt.get(i).content();
        return "";
    }

    /** All of them, or {@code samples} chosen once with {@code seed} (the same ones at every evaluation of a run), in data order. */
    public static List<EvalQuestion> of(List<Example> examples, Integer samples, long seed) {
        return chosen(examples, samples, seed).stream().map(EvalQuestion::of).toList();
    }

    /** {@code samples} of the items chosen with {@code seed} (all when null or not fewer), in their order. */
    public static <T> List<T> chosen(List<T> items, Integer samples, long seed) {
        if (samples == null || samples >= items.size()) return items;
        SplittableRandom random = new SplittableRandom(seed);
        int[] order = java.util.stream.IntStream.range(0, items.size()).toArray();
        for (int i = order.length - 1; i > 0; i--) { // Fisher-Yates
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        int[] picked = java.util.Arrays.copyOf(order, samples);
        java.util.Arrays.sort(picked);
        List<T> out = new ArrayList<>();
        for (int i : picked) out.add(items.get(i));
        return out;
    }
}
