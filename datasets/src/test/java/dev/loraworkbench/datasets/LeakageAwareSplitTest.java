package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LeakageAwareSplitTest {
    static final String[] SUBJECTS = {
        "the safetensors reader", "the recipe loader", "gradient accumulation", "the learning rate schedule", "the TensorBoard writer",
        "the PEFT adapter format", "rotary position embeddings", "the tokenizer trainer", "the chat template", "the loss mask",
        "the merged export", "checkpoint pruning", "the resume command", "the AdamW optimizer", "grouped query attention",
        "the RMS normalisation", "the progress bar", "the run status file", "the tiny model preset", "the logits command",
        "dropout on LoRA inputs", "the eval split", "the CSV reader", "the bench command", "gradient clipping",
        "the warmup phase", "the rsLoRA scale", "the shard size option", "the event file name", "the recipe overrides"};
    static final String[] TEMPLATES = {"What does %s do?", "Can you explain what %s is for?", "Briefly, how does %s work?"};

    /** 30 families of 3 paraphrases each, plus the family id of every example. */
    static List<Example> plantedParaphrases(Map<Example, Integer> family) {
        List<Example> out = new ArrayList<>();
        for (int s = 0; s < SUBJECTS.length; s++) {
            for (String t : TEMPLATES) {
                Example e = new Example(List.of(Message.user(String.format(t, SUBJECTS[s])), Message.assistant("Answer " + s)), "f" + s);
                family.put(e, s);
                out.add(e);
            }
        }
        Collections.shuffle(out, new Random(1));
        return out;
    }

    static int straddlingFamilies(List<Example> train, List<Example> eval, Map<Example, Integer> family) {
        Set<Integer> inTrain = new HashSet<>(), inEval = new HashSet<>();
        train.forEach(e -> inTrain.add(family.get(e)));
        eval.forEach(e -> inEval.add(family.get(e)));
        inEval.retainAll(inTrain);
        return inEval.size();
    }

    @Test
    void naiveRandomSplitLeaksParaphrasesOursDoesNot() {
        Map<Example, Integer> family = new HashMap<>();
        List<Example> data = plantedParaphrases(family);

        List<Example> shuffled = new ArrayList<>(data);
        Collections.shuffle(shuffled, new Random(42));
        int evalCount = (int) Math.round(data.size() * 0.2);
        int naiveLeaks = straddlingFamilies(shuffled.subList(evalCount, shuffled.size()), shuffled.subList(0, evalCount), family);
        assertTrue(naiveLeaks >= 5, "a random split puts paraphrases on both sides: " + naiveLeaks + " families");

        LeakageAwareSplit.Result ours = LeakageAwareSplit.split(data, 0.2, 42);
        assertEquals(0, straddlingFamilies(ours.train(), ours.eval(), family), "no paraphrase family straddles the split");
        assertEquals(data.size(), ours.train().size() + ours.eval().size());
        assertTrue(Math.abs(ours.eval().size() - evalCount) <= 6, "eval size near the fraction: " + ours.eval().size());
        assertTrue(ours.groups() >= 10, "groups stay small enough to split: " + ours.groups());
    }

    static final String[] PREFIXES = {"Foo", "Bar", "Token", "Event", "Shard", "Recipe", "Model", "Checkpoint", "Parquet", "Json"};
    static final String[] SUFFIXES = {"Reader", "Writer", "Loader", "Validator"};
    static final String[] CODE_TEMPLATES = {"What does %s do?", "what does %s do", "Could you explain the purpose of the %s class in this codebase?"};

    /** Questions about a codebase: 40 identifiers x 3 phrasings of one template family (family = identifier). */
    static List<Example> templatedCodeQuestions(Map<Example, Integer> family) {
        List<Example> out = new ArrayList<>();
        int id = 0;
        for (String prefix : PREFIXES) {
            for (String suffix : SUFFIXES) {
                String name = prefix + suffix;
                for (int t = 0; t < CODE_TEMPLATES.length; t++) {
                    String answer = t == 2 ? "It is the " + suffix.toLowerCase() + " for " + prefix.toLowerCase() + " data."
                            : name + " " + suffix.toLowerCase().replace("er", "s").replace("or", "es") + " " + prefix.toLowerCase() + " records.";
                    Example e = new Example(List.of(Message.user(String.format(CODE_TEMPLATES[t], name)), Message.assistant(answer)), name + t);
                    family.put(e, id);
                    out.add(e);
                }
                id++;
            }
        }
        return out;
    }

    /** The flagship's data: "What does FooReader do?" for 40 identifiers used to chain into one group and leave eval empty. */
    @Test
    void templatedQuestionsAboutIdentifiersSplitAtTheRequestedFraction() {
        Map<Example, Integer> family = new HashMap<>();
        List<Example> data = templatedCodeQuestions(family);
        assertEquals(120, data.size());
        for (double fraction : new double[] {0.1, 0.2, 0.3}) {
            LeakageAwareSplit.Result r = LeakageAwareSplit.split(data, fraction, 42);
            double got = (double) r.eval().size() / data.size();
            assertTrue(Math.abs(got - fraction) <= 0.05, "eval fraction " + got + " for " + fraction + " (largest group " + r.largestGroup() + ")");
            assertEquals(0, straddlingFamilies(r.train(), r.eval(), family), "the three phrasings of one identifier stay together");
            assertTrue(r.largestGroup() <= 6, "no chaining of unrelated identifiers: largest group " + r.largestGroup());
        }

        // the same with exact duplicates and unrelated questions mixed in
        List<Example> mixed = new ArrayList<>(data);
        for (int i = 0; i < 4; i++) {
            Example dup = new Example(List.of(Message.user("How do I resume a run?"), Message.assistant("./workbench resume runs/<name>")), "dup" + i);
            family.put(dup, 1000);
            mixed.add(dup);
        }
        for (int s = 0; s < 20; s++) {
            Example e = new Example(List.of(Message.user("Tell me about " + SUBJECTS[s] + "."), Message.assistant("About " + s)), "u" + s);
            family.put(e, 2000 + s);
            mixed.add(e);
        }
        Collections.shuffle(mixed, new Random(5));
        LeakageAwareSplit.Result r = LeakageAwareSplit.split(mixed, 0.2, 7);
        assertTrue(Math.abs((double) r.eval().size() / mixed.size() - 0.2) <= 0.05, r.eval().size() + " of " + mixed.size());
        assertEquals(0, straddlingFamilies(r.train(), r.eval(), family), "paraphrases and exact duplicates stay on one side");
    }

    @Test
    void aFractionThatCannotBeReachedIsAClearError() {
        List<Example> same = new ArrayList<>();
        for (int i = 0; i < 8; i++) same.add(new Example(List.of(Message.user("What does the trainer do?"), Message.assistant("It trains.")), "s" + i));
        same.add(new Example(List.of(Message.user("Where do runs go?"), Message.assistant("runs/")), "o"));
        same.add(new Example(List.of(Message.user("How are checkpoints named?"), Message.assistant("step-N")), "p"));
        var e = org.junit.jupiter.api.Assertions.assertThrows(DatasetException.class, () -> LeakageAwareSplit.split(same, 0.5, 1));
        assertTrue(e.getMessage().startsWith("cannot put 50% of 10 examples into eval while keeping near-duplicates and paraphrases together: "
                + "the closest is 2 (20%); the 3 groups hold up to 8 examples each (largest: \"What does the trainer do?\")"), e.getMessage());
        assertTrue(e.getMessage().contains("Lower eval_fraction"), e.getMessage());
    }

    @Test
    void tinyDatasetsKeepTrainingData() {
        List<Example> three = List.of(
                new Example(List.of(Message.user("What does the trainer do?"), Message.assistant("a")), "1"),
                new Example(List.of(Message.user("What does the trainer do exactly?"), Message.assistant("b")), "2"),
                new Example(List.of(Message.user("Where do runs go?"), Message.assistant("c")), "3"));
        var r = LeakageAwareSplit.split(three, 0.2, 1);
        assertTrue(!r.train().isEmpty(), "never everything in eval");
    }

    @Test
    void deterministicForASeed() {
        List<Example> data = plantedParaphrases(new HashMap<>());
        var a = LeakageAwareSplit.split(data, 0.2, 7);
        var b = LeakageAwareSplit.split(data, 0.2, 7);
        assertEquals(a.eval(), b.eval());
        var c = LeakageAwareSplit.split(data, 0.2, 8);
        assertTrue(!a.eval().equals(c.eval()), "another seed, another split");
    }

    @Test
    void nearDuplicatesByWording() {
        assertTrue(LeakageAwareSplit.jaccard(LeakageAwareSplit.shingles("How do I resume a run?"),
                LeakageAwareSplit.shingles("how do i resume a run")) == 1.0, "case and punctuation do not matter");
        assertTrue(LeakageAwareSplit.jaccard(LeakageAwareSplit.shingles("How do I resume a training run?"),
                LeakageAwareSplit.shingles("How can I resume a training run?")) >= LeakageAwareSplit.NEAR_DUPLICATE);
        assertTrue(LeakageAwareSplit.jaccard(LeakageAwareSplit.shingles("How do I resume a training run?"),
                LeakageAwareSplit.shingles("What is the shard size of a merged export?")) < 0.2);
    }
}
