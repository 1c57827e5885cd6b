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
