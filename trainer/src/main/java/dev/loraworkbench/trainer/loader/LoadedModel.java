package dev.loraworkbench.trainer.loader;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.LoraLinear;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * A base model (+ adapter, or null) in memory, ready for forwards; closing frees the weights and unmaps the checkpoint.
 *
 * @param manager owns every weight; a step's arrays go into sub-managers of it
 */
public record LoadedModel(Path dir, HfCheckpoint checkpoint, NDManager manager, Decoder decoder, LoraAdapter adapter) implements AutoCloseable {

    /** The base model alone, on the same weights: every adapted projection unwrapped (for base vs adapter comparisons). */
    public Decoder baseDecoder() {
        return new Decoder(decoder.config(), decoder.weights().rebind((layer, kind, linear) -> linear instanceof LoraLinear l ? l.base() : linear));
    }

    /** Generation stops at any eos id of generation_config.json (an id or a list), and at the tokenizer's eos token. */
    public Set<Integer> stopIds(TokenizerFiles tokenizer) {
        Set<Integer> ids = new LinkedHashSet<>();
        Path gen = dir.resolve("generation_config.json");
        if (Files.isRegularFile(gen)) {
            try {
                JsonNode eos = new ObjectMapper().readTree(gen.toFile()).get("eos_token_id");
                if (eos != null && eos.isArray()) eos.forEach(e -> ids.add(e.asInt()));
                else if (eos != null && eos.canConvertToInt()) ids.add(eos.asInt());
            } catch (IOException e) {
                throw new CheckpointFormatException(dev.loraworkbench.datasets.JsonProblems.describe(gen, e));
            }
        }
        if (!tokenizer.eosToken().isEmpty()) ids.add(tokenizer.tokenId(tokenizer.eosToken()));
        return ids;
    }

    @Override
    public void close() {
        manager.close();
        checkpoint.close();
    }
}
