package dev.loraworkbench.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.RealTokenizers;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.eval.Batch;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import dev.loraworkbench.trainer.train.TrainingData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * `data show` for each real chat template (Qwen2.5, Qwen3, Llama 3, Mistral-Nemo, DeepSeek-R1 distill), on mixed formats with
 * multi-turn conversations: its JSON is exactly what the trainer's batches hold, and its marked text trains
 * exactly the assistant replies plus their end-of-turn token.
 */
class DataShowTemplatesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path dir;

    private static String out(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            assertEquals(0, WorkbenchCli.run(args));
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @ParameterizedTest
    @CsvSource({"qwen2_5, <|im_end|>, template", "qwen3, <|im_end|>, template", "llama3, <|eot_id|>, template", "mistral_nemo, </s>, template",
        "deepseek-r1-distill-qwen, <｜end▁of▁sentence｜>, keep"})
    void jsonIsTheTrainersBatchAndOnlyRepliesAreTrained(String name, String endOfTurn, String reasoning) throws Exception {
        Path model = RealTokenizers.withChatTemplate(name, dir);
        Path data = Path.of("src/test/resources/data/multi-turn.jsonl").toAbsolutePath();
        Path recipe = Files.writeString(dir.resolve("recipe.yaml"), "model:\n  path: " + model.toAbsolutePath() + "\ndataset:\n  path: " + data
                + "\n  reasoning: " + reasoning + "\ntraining:\n  max_steps: 1\n");

        String json = out("data", "show", recipe.toString(), "--n", "10", "--json");
        var loaded = RecipeLoader.load(recipe, List.of());
        try (TokenizerFiles tokenizer = TokenizerFiles.load(model)) {
            List<EncodedExample> train = TrainingData.load(loaded, tokenizer).train();
            Batch batch = Batch.of(train, tokenizer.padId());
            List<String> lines = json.lines().toList();
            assertEquals(4, lines.size());
            for (int i = 0; i < lines.size(); i++) {
                JsonNode o = JSON.readTree(lines.get(i));
                int len = batch.lengths()[i];
                assertEquals(len, o.get("ids").size());
                for (int t = 0; t < len; t++) {
                    assertEquals(batch.ids()[i * batch.seqLen() + t], o.get("ids").get(t).asLong(), "ids[" + t + "]");
                    // the batch holds targets shifted by one: target[t] = label[t + 1]
                    if (t > 0) assertEquals(batch.targets()[i * batch.seqLen() + t - 1], o.get("labels").get(t).asLong(), "labels[" + t + "]");
                }
                assertEquals(-100, o.get("labels").get(0).asInt(), "the first token is never a target");
            }
        }

        // trained spans: each is one reply followed by its end-of-turn token, nothing else
        String text = out("data", "show", recipe.toString(), "--n", "10");
        List<String> spans = new ArrayList<>();
        String body = text.lines().filter(l -> !l.startsWith("--- train example")).reduce("", (a, b) -> a + b + "\n");
        Matcher m = Pattern.compile("\\[\\[(.*?)]]", Pattern.DOTALL).matcher(body);
        while (m.find()) spans.add(m.group(1));
        List<String> replies = List.of("TensorBoard events, checkpoints and a PEFT adapter.", "In runs/<name>/.",
                "NF4 and FP4, optionally with double quantization.", "A low-rank adapter trained on frozen weights.",
                "No, everything runs locally.", "Yes, they are read from the model directory.");
        assertEquals(replies.size(), spans.size(), text);
        for (int i = 0; i < spans.size(); i++) {
            String span = spans.get(i);
            assertTrue(span.endsWith(replies.get(i) + endOfTurn), name + " span " + i + ": " + span);
            String before = span.substring(0, span.length() - replies.get(i).length() - endOfTurn.length());
            // what may precede a reply inside its span: nothing, or the think block the template or reasoning policy puts there
            assertTrue(before.isEmpty() || before.matches("(?s)(<think>\\n)?(.*\\n)?</think>\\n\\n|\\n\\n"), name + " span " + i + " starts with: " + before);
        }
    }
}
