package dev.loraworkbench.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.loraworkbench.datasets.ByteLevelBpeTrainer;
import dev.loraworkbench.datasets.ChatTemplate;
import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/**
 * Embedded default models: real HF-layout Qwen2 checkpoints (config.json, model.safetensors, generation_config.json,
 * tokenizer.json, tokenizer_config.json with a ChatML chat template) with a byte-level BPE tokenizer trained on the
 * shipped sample data. {@code tiny-qwen2}, the quickstart's base, is shipped in the jar: {@code tiny-qwen2-random}
 * pretrained on this repository's code and docs by recipes/tiny-base.yaml. The other presets are random weights, made
 * here from a seed (the tests' fixture, the starting point of that pretraining, and models for measuring).
 */
public final class TinyModels {
    /** The quickstart's base: a 2.3 M-parameter language model of this repository (shipped, not generated). */
    public static final String TINY_QWEN2 = "tiny-qwen2";
    /** The same shape and tokenizer with random weights: fast fixtures, and what tiny-qwen2 was pretrained from. */
    public static final String TINY_QWEN2_RANDOM = "tiny-qwen2-random";
    /** ~135 M parameters: for measuring memory and speed at a size where the model, not the runtime, dominates. */
    public static final String SMALL_QWEN2 = "small-qwen2";
    public static final String QWEN2_32B_LAYER = "qwen2-32b-layer";

    /** The shapes a preset sets; everything else (tokenizer, template, config fields) is shared. */
    record Shape(int hidden, int intermediate, int layers, int heads, int kvHeads) {}

    static final java.util.Map<String, Shape> PRESETS = java.util.Map.of(
            TINY_QWEN2, new Shape(192, 512, 4, 6, 2),
            TINY_QWEN2_RANDOM, new Shape(192, 512, 4, 6, 2),
            SMALL_QWEN2, new Shape(1024, 2816, 12, 16, 4),
            // one decoder layer of DeepSeek-R1-Distill-Qwen-32B (the tokenizer's small vocabulary): for load benchmarks
            QWEN2_32B_LAYER, new Shape(5120, 27648, 1, 40, 8));
    public static final java.util.Set<String> PRESET_NAMES = PRESETS.keySet();
    static final List<String> SPECIAL_TOKENS = List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>");
    private static final ObjectMapper JSON = new ObjectMapper();

    private TinyModels() {}

    /** The model directory, created with {@code preset} first if it does not exist yet. */
    public static Path ensure(Path dir, String preset, PrintStream log) throws IOException {
        if (Files.isRegularFile(dir.resolve("config.json"))) {
            if (TINY_QWEN2.equals(preset) && !TINY_QWEN2.equals(presetOf(dir))) {
                log.printf("note     %s is not the pretrained %s of this version (a random-weight model of an older one?); "
                        + "delete the directory to have it installed again%n", dir, TINY_QWEN2);
            }
            return dir;
        }
        if (preset == null) return dir;
        log.printf("model    %s does not exist yet: %s%n", dir, TINY_QWEN2.equals(preset)
                ? "installing the embedded " + TINY_QWEN2 + " (pretrained on this repository's code and docs: recipes/tiny-base.yaml)"
                : "creating preset " + preset + " (one-time, a few seconds)");
        create(preset, dir, 1234);
        return dir;
    }

    /** The workbench_preset config.json names (shipped presets carry it), or null. */
    static String presetOf(Path dir) {
        try {
            return JSON.readTree(dir.resolve("config.json").toFile()).path(PRESET_FIELD).asText(null);
        } catch (IOException e) {
            return null;
        }
    }

    /** A config.json field naming the shipped preset a model directory holds (transformers keeps unknown fields). */
    static final String PRESET_FIELD = "workbench_preset";
    /** The files of a shipped preset, under /presets/NAME/ in the jar. */
    static final List<String> SHIPPED_FILES = List.of("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json");

    /** Writes the preset into {@code dir} (built in a temporary sibling directory, then renamed). */
    public static void create(String preset, Path dir, long seed) throws IOException {
        create(preset, dir, seed, 0);
    }

    /** @param layers decoder layers instead of the preset's (0: the preset's), e.g. 4 real-shaped 32B layers for a GPU benchmark */
    public static void create(String preset, Path dir, long seed, int layers) throws IOException {
        create(preset, dir, seed, layers, 0);
    }

    /**
     * @param vocab embedding rows instead of the tokenizer's (0: the tokenizer's, padded to 64): a real model's vocabulary
     *     size (152,064 for Qwen2.5 / the R1 distills) gives the embeddings, lm_head and logits their real size for
     *     measuring memory; the tokenizer uses only the first rows, as Qwen's padded rows are never produced either
     */
    public static void create(String preset, Path dir, long seed, int layers, int vocab) throws IOException {
        Shape preset0 = PRESETS.get(preset);
        Shape shape = preset0 == null || layers <= 0 ? preset0 : new Shape(preset0.hidden(), preset0.intermediate(), layers, preset0.heads(), preset0.kvHeads());
        if (shape == null) throw new IllegalArgumentException("unknown preset '" + preset + "'; known: " + new java.util.TreeSet<>(PRESETS.keySet()));
        if (Files.exists(dir) && !Files.isDirectory(dir) || Files.isDirectory(dir) && !AtomicFiles.isEmptyDirectory(dir)) {
            throw new CheckpointFormatException(dir + " already exists and is not empty but is no model (no config.json); "
                    + "choose another directory (model.path, or --out for init-model)");
        }
        if (preset.equals(TINY_QWEN2)) AtomicFiles.publishDirectory(dir, TinyModels::installShipped);
        else AtomicFiles.publishDirectory(dir, tmp -> writeQwen2(tmp, preset, shape, seed, vocab));
    }

    /** Copies the pretrained tiny-qwen2 out of the jar, its config.json marked with the preset's name. */
    private static void installShipped(Path dir) throws IOException {
        for (String file : SHIPPED_FILES) {
            try (InputStream in = TinyModels.class.getResourceAsStream("/presets/" + TINY_QWEN2 + "/" + file)) {
                if (in == null) throw new IllegalStateException("presets/" + TINY_QWEN2 + "/" + file + " missing from the trainer jar");
                if (file.equals("config.json")) {
                    ObjectNode config = (ObjectNode) JSON.readTree(in);
                    config.put(PRESET_FIELD, TINY_QWEN2);
                    AtomicFiles.writeString(dir.resolve(file), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));
                } else {
                    AtomicFiles.write(dir.resolve(file), out -> in.transferTo(out));
                }
            }
        }
    }

    private static void writeQwen2(Path dir, String preset, Shape shape, long seed, int vocabRows) throws IOException {
        String tokenizerJson = ByteLevelBpeTrainer.train(sampleCorpus(), 1600, SPECIAL_TOKENS);
        int baseVocab = JSON.readTree(tokenizerJson).get("model").get("vocab").size();
        int endOfText = baseVocab;
        int imEnd = baseVocab + 2;
        int vocab = (baseVocab + SPECIAL_TOKENS.size() + 63) / 64 * 64; // padded, as Qwen pads its embedding rows
        if (vocabRows > 0) {
            if (vocabRows < vocab) throw new IllegalArgumentException("--vocab " + vocabRows + ": the tokenizer needs at least " + vocab + " rows");
            vocab = vocabRows;
        }

        ObjectNode config = JSON.createObjectNode();
        config.putArray("architectures").add("Qwen2ForCausalLM");
        config.put("model_type", "qwen2");
        config.put("hidden_size", shape.hidden());
        config.put("intermediate_size", shape.intermediate());
        config.put("num_hidden_layers", shape.layers());
        config.put("num_attention_heads", shape.heads());
        config.put("num_key_value_heads", shape.kvHeads());
        config.put("vocab_size", vocab);
        config.put("max_position_embeddings", preset.equals(QWEN2_32B_LAYER) ? 131072 : 2048); // the 32B's own, for long-sequence measurements
        config.put("rope_theta", 1000000.0);
        config.put("rms_norm_eps", 1e-6);
        config.put("hidden_act", "silu");
        config.put("tie_word_embeddings", false);
        config.put("use_sliding_window", false);
        config.put("attention_dropout", 0.0);
        config.put("initializer_range", 0.02);
        config.put("torch_dtype", "bfloat16");
        config.put("bos_token_id", endOfText);
        config.put("eos_token_id", imEnd);
        AtomicFiles.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));

        ObjectNode generation = JSON.createObjectNode();
        generation.put("bos_token_id", endOfText);
        generation.putArray("eos_token_id").add(imEnd).add(endOfText);
        generation.put("pad_token_id", endOfText);
        generation.put("do_sample", false);
        AtomicFiles.writeString(dir.resolve("generation_config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(generation));

        ObjectNode tokCfg = JSON.createObjectNode();
        tokCfg.put("tokenizer_class", "Qwen2Tokenizer");
        tokCfg.putNull("bos_token");
        tokCfg.put("eos_token", "<|im_end|>");
        tokCfg.put("pad_token", "<|endoftext|>");
        tokCfg.put("model_max_length", 2048);
        tokCfg.put("chat_template", ChatTemplate.CHATML);
        AtomicFiles.writeString(dir.resolve("tokenizer_config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(tokCfg));
        AtomicFiles.writeString(dir.resolve("tokenizer.json"), tokenizerJson);

        ModelConfig c = ModelConfig.fromJson(config, preset);
        writeRandomWeights(c, dir.resolve("model.safetensors"), seed);
    }

    /** HF-style init: N(0, 0.02) for embeddings and projections, ones for norms, zeros for biases. */
    static void writeRandomWeights(ModelConfig c, Path file, long seed) throws IOException {
        Random random = new Random(seed);
        SafetensorsWriter w = new SafetensorsWriter();
        long h = c.hiddenSize();
        w.putBf16("model.embed_tokens.weight", new long[] {c.vocabSize(), h}, normal(random, c.vocabSize() * h, 0.02));
        for (int i = 0; i < c.numLayers(); i++) {
            w.putBf16("model.layers." + i + ".input_layernorm.weight", new long[] {h}, ones(h));
            for (Projection p : Projection.values()) {
                int in = p.in(c);
                int out = p.out(c);
                String name = p.modulePath(i);
                w.putBf16(name + ".weight", new long[] {out, in}, normal(random, (long) in * out, 0.02));
                if (p.hasBias(c)) w.putBf16(name + ".bias", new long[] {out}, new float[out]);
            }
            w.putBf16("model.layers." + i + ".post_attention_layernorm.weight", new long[] {h}, ones(h));
        }
        w.putBf16("model.norm.weight", new long[] {h}, ones(h));
        // A random model has no knowledge to draw on: with the usual 0.02 the head's logits could not move more than
        // ±4 from uniform whatever LoRA did to the hidden state, so the head gets unit-norm rows (std 1/√hidden).
        if (!c.tieWordEmbeddings()) w.putBf16("lm_head.weight", new long[] {c.vocabSize(), h}, normal(random, c.vocabSize() * h, 1 / Math.sqrt(h)));
        w.write(file);
    }

    private static float[] normal(Random random, long n, double std) {
        float[] out = new float[Math.toIntExact(n)];
        for (int i = 0; i < out.length; i++) out[i] = (float) (random.nextGaussian() * std);
        return out;
    }

    private static float[] ones(long n) {
        float[] out = new float[Math.toIntExact(n)];
        java.util.Arrays.fill(out, 1f);
        return out;
    }

    /** Questions and answers of the shipped sample dataset plus the chat roles: the tokenizer's training text. */
    static String sampleCorpus() throws IOException {
        StringBuilder sb = new StringBuilder("system\nuser\nassistant\n");
        try (InputStream in = TinyModels.class.getResourceAsStream("/samples/project-qa.jsonl")) {
            if (in == null) throw new IllegalStateException("samples/project-qa.jsonl missing from the datasets jar");
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank()) continue;
                JsonNode n = JSON.readTree(line);
                sb.append(n.path("question").asText()).append('\n').append(n.path("answer").asText()).append('\n');
            }
        }
        return sb.toString();
    }
}
