package dev.loraworkbench.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.RecipeException;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.runs.ResumePoint;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Several sources in one recipe: Q&A and text read side by side, split apart (text by file), weighted, hashed for resume. */
class DataSourcesTest {
    @TempDir Path dir;

    private Path docs() throws IOException {
        Path docs = Files.createDirectories(dir.resolve("docs"));
        for (int i = 0; i < 10; i++) {
            Files.writeString(docs.resolve("page" + i + ".md"), ("Page " + i + ": the trainer writes TensorBoard events for every step. ").repeat(8 + i));
        }
        Files.write(docs.resolve("image.png"), new byte[] {1, 0, 2});
        return docs;
    }

    private LoadedRecipe recipe(String sources) {
        String yaml = """
                model:
                  path: %s
                dataset:
                  max_seq_len: 64
                  eval_fraction: 0.2
                  sources:
                %s
                training:
                  max_steps: 1
                """.formatted(TinyModelFixture.dir(), sources.indent(4).stripTrailing());
        return RecipeLoader.parse(yaml, dir.resolve("r.yaml"), List.of());
    }

    @Test
    void qaAndTextSourcesTrainTogetherAndTextSplitsByWholeFiles() throws IOException {
        Path docs = docs();
        LoadedRecipe loaded = recipe("""
                - path: %s
                  format: qa
                - path: %s
                  format: completion
                  add_path_header: true
                """.formatted(TinyModelFixture.sampleData(), docs));
        try (TokenizerFiles tok = loaded.tokenizer(loaded.modelDir())) {
            TrainingData data = TrainingData.load(loaded, tok);
            assertEquals(2, data.sources().size());
            var qa = data.sources().get(0);
            var text = data.sources().get(1);
            assertEquals(177, qa.read());
            assertEquals(10, text.read(), "ten pages read, the image skipped");
            assertEquals(1, text.skipped().skippedCount());
            assertEquals(qa.train() + text.train(), data.train().size());
            assertEquals(qa.eval() + text.eval(), data.eval().size());
            assertEquals(data.evalExamples().size(), qa.eval(), "generation asks only the Q&A eval questions");

            // a file's windows all land on one side: eval holds exactly the windows of 2 of the 10 files
            Set<String> trainFiles = new HashSet<>();
            Set<String> evalFiles = new HashSet<>();
            for (EncodedExample e : data.train()) fileOf(tok, e, trainFiles);
            for (EncodedExample e : data.eval()) fileOf(tok, e, evalFiles);
            assertEquals(2, evalFiles.size(), evalFiles.toString());
            assertEquals(8, trainFiles.size(), trainFiles.toString());
            assertTrue(java.util.Collections.disjoint(trainFiles, evalFiles));
            assertTrue(text.describe().contains("10 files -> " + text.train() + " train / " + text.eval() + " eval windows")
                    && text.describe().contains("1 skipped (1 binary)"), text.describe());

            // the same recipe twice: the same split and order (resume depends on it)
            TrainingData again = TrainingData.load(loaded, tok);
            assertEquals(data.train().size(), again.train().size());
            for (int i = 0; i < data.train().size(); i++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(data.train().get(i).ids(), again.train().get(i).ids());
            }
        }
    }

    private static void fileOf(TokenizerFiles tok, EncodedExample e, Set<String> files) {
        String text = tok.decode(e.ids());
        var m = java.util.regex.Pattern.compile("File: (page\\d)\\.md").matcher(text);
        if (m.find()) files.add(m.group(1));
        var body = java.util.regex.Pattern.compile("Page (\\d):").matcher(text);
        if (body.find()) files.add("page" + body.group(1));
    }

    /** eval_path is Q&A, whatever the first source is: it was read as that source's format (text), which no JSON record is. */
    @Test
    void anEvalFileIsReadAsQaWhenTheFirstSourceIsText() throws IOException {
        Path docs = docs();
        String yaml = """
                model:
                  path: %s
                dataset:
                  max_seq_len: 64
                  eval_path: %s
                  sources:
                    - {path: %s, format: text}
                    - {path: %s, format: qa}
                training:
                  max_steps: 1
                """.formatted(TinyModelFixture.dir(), TinyModelFixture.sampleData(), docs, TinyModelFixture.sampleData());
        LoadedRecipe loaded = RecipeLoader.parse(yaml, dir.resolve("r.yaml"), List.of());
        try (TokenizerFiles tok = loaded.tokenizer(loaded.modelDir())) {
            TrainingData data = TrainingData.load(loaded, tok);
            assertEquals(177, data.evalExamples().size());
            assertEquals(0, data.sources().get(0).eval(), "no file held out: the eval set is the eval_path");
        }
    }

    @Test
    void weightTakesWholeCopiesThenASeededSample() {
        List<EncodedExample> ten = new java.util.ArrayList<>();
        for (int i = 0; i < 10; i++) ten.add(new EncodedExample(new int[] {i}, new int[] {i}, false));
        assertEquals(ten, TrainingData.weighted(ten, 1.0, new Random(1)));
        assertEquals(25, TrainingData.weighted(ten, 2.5, new Random(1)).size());
        List<EncodedExample> half = TrainingData.weighted(ten, 0.5, new Random(1));
        assertEquals(5, half.size());
        assertEquals(5, new HashSet<>(half).size(), "a sample, not repeats");
        assertEquals(half, TrainingData.weighted(ten, 0.5, new Random(1)), "the seed fixes it");
    }

    @Test
    void aChangedDocumentChangesTheDataHashThatResumeChecks() throws IOException {
        Path docs = docs();
        LoadedRecipe loaded = recipe("- path: %s\n  format: text\n".formatted(docs));
        String before = ResumePoint.dataSha256(loaded);
        assertEquals(before, ResumePoint.dataSha256(loaded));
        Files.writeString(docs.resolve("page3.md"), "changed");
        assertTrue(!before.equals(ResumePoint.dataSha256(loaded)));
    }

    @Test
    void sourceMistakesNameTheEntryAndTheLine() {
        String qa = TinyModelFixture.sampleData().toString();
        var unknown = assertThrows(RecipeException.class, () -> recipe("- path: %s\n  format: text\n  strid: 4\n".formatted(qa))).problems();
        assertTrue(unknown.get(0).matches(".*r.yaml:9: dataset.sources.0.strid: unknown field; did you mean 'stride'\\?.*"), unknown.toString());
        var textOnly = assertThrows(RecipeException.class, () -> recipe("- path: %s\n  format: qa\n  stride: 4\n".formatted(qa))).problems();
        assertTrue(textOnly.get(0).contains("dataset.sources.0.format: exclude, add_path_header, stride and max_file_size apply to format: text"),
                textOnly.toString());
        var stride = assertThrows(RecipeException.class, () -> recipe("- path: %s\n  format: text\n  stride: 64\n".formatted(qa))).problems();
        assertTrue(stride.get(0).contains("dataset.sources.0.stride: 64 is out of range; expected a whole number from 0 to max_seq_len - 1"),
                stride.toString());
        var notList = assertThrows(RecipeException.class, () -> recipe("path: x")).problems();
        assertTrue(notList.get(0).contains("dataset.sources: a mapping is not valid; expected a list of entries"), notList.toString());
        String both = """
                model:
                  path: m
                dataset:
                  path: qa.jsonl
                  sources:
                    - path: docs
                      format: text
                training:
                  max_steps: 1
                """;
        var twice = assertThrows(RecipeException.class, () -> RecipeLoader.parse(both, dir.resolve("r.yaml"), List.of())).problems();
        assertTrue(twice.get(0).contains("dataset.sources: give either dataset.path or dataset.sources, not both"), twice.toString());
    }
}
