package dev.loraworkbench.datasets;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** A small ChatML byte-level BPE tokenizer directory for tests. */
final class TestTokenizers {
    private TestTokenizers() {}

    static Path chatml(Path dir) throws IOException {
        String corpus = "user\nassistant\nsystem\nWhat does the trainer do? It trains LoRA adapters on a base model. "
                + "Which file holds the recipe? The recipe is a YAML file with model, lora, dataset and training sections.";
        Files.writeString(dir.resolve("tokenizer.json"),
                ByteLevelBpeTrainer.train(corpus, 200, List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>")));
        var cfg = new ObjectMapper().createObjectNode()
                .put("eos_token", "<|im_end|>").put("pad_token", "<|endoftext|>").put("chat_template", ChatTemplate.CHATML);
        Files.writeString(dir.resolve("tokenizer_config.json"), cfg.toString());
        return dir;
    }
}
