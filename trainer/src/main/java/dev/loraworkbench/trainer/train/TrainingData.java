package dev.loraworkbench.trainer.train;

import dev.loraworkbench.datasets.CsvColumns;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.Example;
import dev.loraworkbench.datasets.ExampleEncoder;
import dev.loraworkbench.datasets.LeakageAwareSplit;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import java.util.ArrayList;
import java.util.List;

/**
 * The recipe's dataset read, split into train / eval and encoded through the model's chat template.
 *
 * @param evalExamples the eval conversations as written, one per entry of {@code eval} (what evaluation by generation asks and scores)
 * @param withSystemPrompt training conversations that carry a (non-blank) system message
 */
public record TrainingData(List<EncodedExample> train, List<EncodedExample> eval, List<Example> evalExamples, int dropped, int truncated,
        LeakageAwareSplit.Result split, int withSystemPrompt) {

    public static TrainingData load(LoadedRecipe loaded, TokenizerFiles tokenizer) {
        Recipe.DatasetSection d = loaded.recipe().dataset();
        CsvColumns columns = d.csvColumns();
        List<Example> all = DatasetReader.read(loaded.datasetPath(), d.format(), columns, d.system());
        List<Example> train = all;
        List<Example> eval = List.of();
        LeakageAwareSplit.Result split = null;
        if (d.evalPath() != null) {
            eval = DatasetReader.read(loaded.resolve(d.evalPath()), d.format(), columns, d.system());
        } else if (d.evalFraction() != null && d.evalFraction() > 0) {
            // whole groups of near-duplicate / same-topic questions go to one side, so eval metrics are not inflated by leaks
            split = LeakageAwareSplit.split(all, d.evalFraction(), loaded.recipe().training().seed());
            train = split.train();
            eval = split.eval();
        }
        ExampleEncoder encoder = d.encoder(tokenizer);
        int[] dropped = {0};
        int[] truncated = {0};
        List<EncodedExample> trainEnc = encode(train, encoder, dropped, truncated, new ArrayList<>());
        List<Example> evalKept = new ArrayList<>();
        List<EncodedExample> evalEnc = encode(eval, encoder, dropped, truncated, evalKept);
        if (trainEnc.isEmpty()) {
            throw new dev.loraworkbench.datasets.DatasetException(loaded.datasetPath() + ": no training examples left after encoding"
                    + (dropped[0] > 0 ? " (" + dropped[0] + " dropped as longer than max_seq_len " + d.maxSeqLen() + ")" : ""));
        }
        int withSystem = (int) train.stream().filter(e -> e.messages().stream().anyMatch(m -> m.role().equals("system") && !m.content().isBlank())).count();
        return new TrainingData(trainEnc, evalEnc, List.copyOf(evalKept), dropped[0], truncated[0], split, withSystem);
    }

    /** @param kept gets the examples that encoded (not dropped), in order */
    private static List<EncodedExample> encode(List<Example> examples, ExampleEncoder encoder, int[] dropped, int[] truncated, List<Example> kept) {
        List<EncodedExample> out = new ArrayList<>();
        for (Example e : examples) {
            var enc = encoder.encode(e);
            if (enc.isEmpty()) { dropped[0]++; continue; }
            if (enc.get().truncated()) truncated[0]++;
            out.add(enc.get());
            kept.add(e);
        }
        return out;
    }

    public long trainTokens() {
        return train.stream().mapToLong(e -> e.ids().length).sum();
    }
}
