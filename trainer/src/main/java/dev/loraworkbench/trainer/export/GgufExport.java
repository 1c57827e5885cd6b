package dev.loraworkbench.trainer.export;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.GgufWriter;
import dev.loraworkbench.trainer.io.ProgressBars;
import dev.loraworkbench.trainer.io.TensorInfo;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.quant.Quantization;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import me.tongfei.progressbar.ProgressBar;

/**
 * A Hugging Face checkpoint (with a LoRA adapter merged in, when given) as one GGUF file llama.cpp, Ollama and LM Studio
 * load: the hyper-parameters llama.cpp reads for the architecture, tensors under llama.cpp's names (2-D weights in the
 * types the chosen {@link GgufFileType} gives them, norms and biases fp32, as llama.cpp's converter keeps them) and the
 * tokenizer (tokens, types, merges, special ids, chat template). Streams one tensor at a time.
 *
 * <p>Architectures: qwen2 (Qwen2 / Qwen2.5 / DeepSeek-R1-Distill-Qwen) and llama (Llama 2 / 3): llama.cpp's llama graph
 * rotates interleaved pairs where transformers rotates halves, so q and k rows are permuted per head as its converter does;
 * Llama 3's rope scaling becomes the rope_freqs tensor, linear scaling its two keys.
 */
public final class GgufExport {
    private static final long PROGRESS_BAR_BYTES = 500_000_000L;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");
    private static final Map<String, String> LAYER_NAMES = Map.ofEntries(
            Map.entry("input_layernorm.weight", "attn_norm.weight"),
            Map.entry("post_attention_layernorm.weight", "ffn_norm.weight"),
            Map.entry("self_attn.q_proj.weight", "attn_q.weight"), Map.entry("self_attn.q_proj.bias", "attn_q.bias"),
            Map.entry("self_attn.k_proj.weight", "attn_k.weight"), Map.entry("self_attn.k_proj.bias", "attn_k.bias"),
            Map.entry("self_attn.v_proj.weight", "attn_v.weight"), Map.entry("self_attn.v_proj.bias", "attn_v.bias"),
            Map.entry("self_attn.o_proj.weight", "attn_output.weight"),
            Map.entry("mlp.gate_proj.weight", "ffn_gate.weight"), Map.entry("mlp.up_proj.weight", "ffn_up.weight"),
            Map.entry("mlp.down_proj.weight", "ffn_down.weight"));

    /** GGUF token types (llama.cpp's llama_token_type). */
    static final int NORMAL = 1, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5;

    private GgufExport() {}

    /** What was written. */
    public record Result(Path file, long bytes, int tensors, int mergedModules) {}

    /**
     * @param adapterDir a PEFT adapter to merge in, or null for the model as it is
     * @param trainedOn the 4-bit quantization the adapter was trained against (merged dequantized), or null
     */
    public static Result export(Path modelDir, Path adapterDir, Quantization trainedOn, Path out, GgufFileType type,
                                PrintStream log) throws IOException {
        try (HfCheckpoint base = HfCheckpoint.open(modelDir); NDManager manager = NDManager.newBaseManager("PyTorch")) {
            ModelConfig c = base.config();
            String arch = architecture(c, modelDir);
            LoraAdapter adapter = adapterDir == null ? null : PeftFormat.read(adapterDir, c, manager);
            MergedWeights weights = new MergedWeights(base, adapter, trainedOn);
            GgufWriter.Metadata metadata = new GgufWriter.Metadata()
                    .string("general.architecture", arch)
                    .string("general.name", modelDir.toAbsolutePath().normalize().getFileName().toString())
                    .uint32("general.file_type", type.id)
                    .uint32(arch + ".context_length", c.maxPositionEmbeddings())
                    .uint32(arch + ".embedding_length", c.hiddenSize())
                    .uint32(arch + ".block_count", c.numLayers())
                    .uint32(arch + ".feed_forward_length", c.intermediateSize())
                    .uint32(arch + ".attention.head_count", c.numHeads())
                    .uint32(arch + ".attention.head_count_kv", c.numKvHeads())
                    .float32(arch + ".rope.freq_base", c.ropeTheta())
                    .float32(arch + ".attention.layer_norm_rms_epsilon", c.rmsNormEps());
            if (arch.equals("llama")) llamaHyperParameters(c, metadata);
            tokenizer(modelDir, c, metadata);
            List<GgufWriter.TensorSpec> specs = new ArrayList<>();
            List<String> sources = new ArrayList<>();
            float[] ropeFactors = arch.equals("llama") ? llama3RopeFactors(c) : null;
            if (ropeFactors != null) {
                specs.add(new GgufWriter.TensorSpec("rope_freqs.weight", new long[] {ropeFactors.length}, GgufWriter.TensorType.F32));
                sources.add(null);
            }
            GgufFileType.Layout layout = layout(base, arch);
            for (TensorInfo t : base.tensorsInOrder()) {
                String name = ggufName(t.name());
                if (name == null) continue; // e.g. rotary inv_freq buffers some checkpoints store
                specs.add(new GgufWriter.TensorSpec(name, t.shape(), type.tensorType(name, t.shape(), layout)));
                sources.add(t.name());
            }
            int merged = 0;
            long stored = base.storedBytes();
            // minutes for a 32B (read, merge, quantize, write): a bar over the checkpoint's bytes, none for a small model
            try (GgufWriter writer = new GgufWriter(out, metadata, specs);
                 ProgressBar bar = stored < PROGRESS_BAR_BYTES ? null : ProgressBars.of("gguf " + type.cliName(), 0, stored / 1_000_000, " MB", 1)) {
                for (int i = 0; i < specs.size(); i++) {
                    GgufWriter.TensorSpec spec = specs.get(i);
                    String source = sources.get(i);
                    if (source == null) {
                        writer.write(spec.name(), ropeFactors);
                        continue;
                    }
                    float[] values = weights.values(source, spec.shape());
                    if (arch.equals("llama")) values = permuteForLlamaCpp(spec.name(), values, spec.shape(), c);
                    writer.write(spec.name(), values);
                    if (weights.adapted(source) != null) merged++;
                    if (bar != null) bar.stepBy((base.info(source).end() - base.info(source).begin()) / 1_000_000);
                }
            }
            if (adapter != null && merged != adapter.pairs().size()) {
                throw new IllegalStateException("merged " + merged + " of " + adapter.pairs().size() + " adapted modules");
            }
            long bytes = Files.size(out);
            log.printf("wrote %s (%s, %s, %d tensors%s, %.1f MB)%n", out, arch, type.cliName(), specs.size(),
                    adapter == null ? "" : ", " + merged + " with the LoRA merged in", bytes / 1e6);
            return new Result(out, bytes, specs.size(), merged);
        }
    }

    /**
     * An Ollama Modelfile for the GGUF: FROM it, the chat template as Ollama's Go template where it is ChatML (Qwen's,
     * the tiny model's), and a stop parameter per end-of-turn token. Other templates are left to the GGUF's own
     * tokenizer.chat_template (a comment says so), rather than translated wrongly.
     */
    public static String modelfile(Path modelDir, Path gguf) throws IOException {
        StringBuilder sb = new StringBuilder("# Ollama: ollama create NAME -f ").append(gguf.getFileName()).append(".Modelfile\n");
        sb.append("FROM ./").append(gguf.getFileName()).append("\n");
        JsonNode tokConfig = Files.isRegularFile(modelDir.resolve("tokenizer_config.json"))
                ? JSON.readTree(modelDir.resolve("tokenizer_config.json").toFile()) : JSON.createObjectNode();
        String template = tokConfig.path("chat_template").asText("");
        if (template.contains("<|im_start|>") && template.contains("<|im_end|>")) {
            sb.append("TEMPLATE \"\"\"{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}")
                    .append("{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n\"\"\"\n");
            sb.append("PARAMETER stop \"<|im_end|>\"\n");
        } else {
            sb.append("# the chat template is not ChatML: Ollama uses the one stored in the GGUF (tokenizer.chat_template) if it can\n");
        }
        String eos = tokConfig.path("eos_token").isTextual() ? tokConfig.path("eos_token").asText() : tokConfig.path("eos_token").path("content").asText("");
        if (!eos.isEmpty() && !eos.equals("<|im_end|>")) sb.append("PARAMETER stop \"").append(eos).append("\"\n");
        return sb.toString();
    }

    /**
     * A LoRA adapter as llama.cpp's LoRA GGUF (what convert_lora_to_gguf.py writes, for llama-cli --lora): general.type
     * adapter, adapter.type lora, adapter.lora.alpha, and per adapted weight its A [r, in] and B [out, r] under the
     * weight's llama.cpp name + ".lora_a" / ".lora_b". llama.cpp scales B A by alpha / r, so alpha is written as
     * scale · r: an rsLoRA adapter (alpha / √r) keeps its scale.
     */
    public static Result exportAdapter(Path modelDir, Path adapterDir, Path out, GgufWriter.TensorType type, PrintStream log) throws IOException {
        try (HfCheckpoint base = HfCheckpoint.open(modelDir); NDManager manager = NDManager.newBaseManager("PyTorch")) {
            ModelConfig c = base.config();
            String arch = architecture(c, modelDir);
            LoraAdapter adapter = PeftFormat.read(adapterDir, c, manager);
            int r = adapter.settings().r();
            GgufWriter.Metadata metadata = new GgufWriter.Metadata()
                    .string("general.architecture", arch)
                    .string("general.type", "adapter")
                    .string("general.name", adapterDir.toAbsolutePath().normalize().getFileName().toString())
                    .string("adapter.type", "lora")
                    .float32("adapter.lora.alpha", adapter.scale() * r);
            List<GgufWriter.TensorSpec> specs = new ArrayList<>();
            List<float[]> values = new ArrayList<>(); // an adapter is small: A and B of every module at once
            adapter.pairs().forEach((module, pair) -> {
                String name = ggufName(module + ".weight");
                if (name == null) throw new CheckpointFormatException(adapterDir + ": adapted module " + module + " has no llama.cpp name");
                specs.add(new GgufWriter.TensorSpec(name + ".lora_a", pair.a().getShape().getShape(), type));
                values.add(pair.a().toFloatArray());
                long[] bShape = pair.b().getShape().getShape();
                specs.add(new GgufWriter.TensorSpec(name + ".lora_b", bShape, type));
                // B's rows are the weight's output rows: llama's q and k take the same permutation as the merged weight
                values.add(arch.equals("llama") ? permuteForLlamaCpp(name, pair.b().toFloatArray(), bShape, c) : pair.b().toFloatArray());
            });
            try (GgufWriter writer = new GgufWriter(out, metadata, specs)) {
                for (int i = 0; i < specs.size(); i++) writer.write(specs.get(i).name(), values.get(i));
            }
            long bytes = Files.size(out);
            log.printf("wrote %s (LoRA adapter for %s, r=%d, %d modules, %s, %.1f MB)%n", out, arch, r, adapter.pairs().size(),
                    type.name().toLowerCase(java.util.Locale.ROOT), bytes / 1e6);
            return new Result(out, bytes, specs.size(), adapter.pairs().size());
        }
    }

    /** What the choice of tensor types needs to know of the model; the head is output.weight unless lm_head is absent (tied). */
    static GgufFileType.Layout layout(HfCheckpoint base, String arch) {
        boolean hasOutput = base.tensorsInOrder().stream().anyMatch(t -> t.name().equals("lm_head.weight"));
        return GgufFileType.Layout.of(arch, base.config(), hasOutput);
    }

    private static String architecture(ModelConfig c, Path dir) {
        if (c.modelType().equals("qwen2")) return "qwen2";
        if (c.modelType().equals("llama") && !c.qkvBias()) return "llama";
        throw new CheckpointFormatException(dir + ": GGUF export of model_type '" + c.modelType() + "' is not built yet (qwen2 and llama are); "
                + "export merged gives a Hugging Face checkpoint llama.cpp's convert_hf_to_gguf.py takes");
    }

    /** What llama.cpp's llama graph reads beyond the common keys: head size and RoPE dimensions, linear RoPE scaling. */
    private static void llamaHyperParameters(ModelConfig c, GgufWriter.Metadata metadata) {
        metadata.uint32("llama.vocab_size", c.vocabSize()).uint32("llama.rope.dimension_count", c.headDim());
        if (c.headDim() * c.numHeads() != c.hiddenSize()) {
            metadata.uint32("llama.attention.key_length", c.headDim()).uint32("llama.attention.value_length", c.headDim());
        }
        if (c.ropeScaling() != null && c.ropeScaling().type().equals("linear")) {
            metadata.string("llama.rope.scaling.type", "linear").float32("llama.rope.scaling.factor", c.ropeScaling().factor());
        }
    }

    /**
     * Llama 3 rope scaling as llama.cpp's converter writes it: per frequency the factor it is divided by (1 for high
     * frequencies, the scaling factor for low ones, interpolated between); null without llama3 scaling.
     */
    static float[] llama3RopeFactors(ModelConfig c) {
        if (c.ropeScaling() == null || !c.ropeScaling().type().equals("llama3")) return null;
        double[] scaled = c.inverseFrequencies();
        float[] factors = new float[scaled.length];
        for (int i = 0; i < scaled.length; i++) factors[i] = (float) ((1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / c.headDim())) / scaled[i]);
        return factors;
    }

    /**
     * q and k rows in llama.cpp's order: per head, the first and second halves interleaved (row i of the first half, then
     * row i of the second), so its pairwise rotation equals transformers' rotate-half. As convert_hf_to_gguf.py's permute.
     */
    static float[] permuteForLlamaCpp(String ggufName, float[] values, long[] shape, ModelConfig c) {
        int heads;
        if (ggufName.endsWith(".attn_q.weight")) heads = c.numHeads();
        else if (ggufName.endsWith(".attn_k.weight")) heads = c.numKvHeads();
        else return values;
        int cols = (int) shape[1];
        int headDim = (int) shape[0] / heads;
        int half = headDim / 2;
        float[] out = new float[values.length];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                for (int p = 0; p < 2; p++) {
                    int from = h * headDim + p * half + i;   // [head, pair half p, i]
                    int to = h * headDim + 2 * i + p;        // [head, i, pair half p]
                    System.arraycopy(values, from * cols, out, to * cols, cols);
                }
            }
        }
        return out;
    }

    /** llama.cpp's name for a Hugging Face tensor, or null for tensors llama.cpp does not load. */
    static String ggufName(String hf) {
        switch (hf) {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
            default: break;
        }
        Matcher m = LAYER.matcher(hf);
        if (!m.matches()) return null;
        String rest = LAYER_NAMES.get(m.group(2));
        return rest == null ? null : "blk." + m.group(1) + "." + rest;
    }

    /**
     * The tokenizer as llama.cpp's converter writes it for byte-level BPE: every id up to the embedding rows (ids the
     * tokenizer does not use become [PADn], unused), added special tokens as control tokens, the merges, the special
     * ids and the chat template.
     */
    static void tokenizer(Path dir, ModelConfig c, GgufWriter.Metadata metadata) throws IOException {
        JsonNode tok = JSON.readTree(dir.resolve("tokenizer.json").toFile());
        JsonNode model = tok.path("model");
        if (!"BPE".equals(model.path("type").asText()) || !isByteLevel(tok)) {
            throw new CheckpointFormatException(dir.resolve("tokenizer.json") + ": GGUF export supports byte-level BPE tokenizers (Qwen, "
                    + "GPT-2 style); this one is " + model.path("type").asText("unknown"));
        }
        String[] tokens = new String[c.vocabSize()];
        int[] types = new int[c.vocabSize()];
        model.path("vocab").fields().forEachRemaining(e -> put(tokens, types, e.getValue().asInt(), e.getKey(), NORMAL, dir));
        for (JsonNode added : tok.path("added_tokens")) {
            put(tokens, types, added.path("id").asInt(), added.path("content").asText(), added.path("special").asBoolean() ? CONTROL : USER_DEFINED, dir);
        }
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] == null) {
                tokens[i] = "[PAD" + i + "]";
                types[i] = UNUSED;
            }
        }
        List<String> merges = new ArrayList<>();
        for (JsonNode m : model.path("merges")) merges.add(m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText());
        metadata.string("tokenizer.ggml.model", "gpt2").string("tokenizer.ggml.pre", preTokenizer(tok, dir))
                .strings("tokenizer.ggml.tokens", List.of(tokens)).int32s("tokenizer.ggml.token_type", types)
                .strings("tokenizer.ggml.merges", merges);
        JsonNode config = JSON.readTree(dir.resolve("config.json").toFile());
        JsonNode tokConfig = Files.isRegularFile(dir.resolve("tokenizer_config.json")) ? JSON.readTree(dir.resolve("tokenizer_config.json").toFile())
                : JSON.createObjectNode();
        List<String> list = List.of(tokens);
        for (String kind : new String[] {"bos", "eos", "pad"}) {
            Integer id = specialId(tokConfig.path(kind + "_token"), list);
            if (id == null && config.path(kind + "_token_id").isInt()) id = config.path(kind + "_token_id").asInt();
            if (id != null) metadata.uint32("tokenizer.ggml." + (kind.equals("pad") ? "padding" : kind) + "_token_id", id);
        }
        metadata.bool("tokenizer.ggml.add_bos_token", addsBos(tok, tokConfig));
        if (tokConfig.path("chat_template").isTextual()) metadata.string("tokenizer.chat_template", tokConfig.path("chat_template").asText());
    }

    /**
     * Whether text starts with BOS: tokenizer_config's add_bos_token when it says, else whether tokenizer.json's
     * post-processor template begins with the BOS token (Meta's Llama 3 files), as llama.cpp's converter decides.
     */
    static boolean addsBos(JsonNode tok, JsonNode tokConfig) {
        if (tokConfig.path("add_bos_token").isBoolean()) return tokConfig.path("add_bos_token").asBoolean();
        JsonNode bosToken = tokConfig.path("bos_token");
        String bos = bosToken.isTextual() ? bosToken.asText() : bosToken.path("content").asText(null);
        if (bos == null) return false;
        JsonNode post = tok.path("post_processor");
        List<JsonNode> processors = new ArrayList<>();
        if (post.path("type").asText().equals("Sequence")) post.path("processors").forEach(processors::add);
        else processors.add(post);
        for (JsonNode p : processors) {
            if (p.path("type").asText().equals("TemplateProcessing")) return bos.equals(p.path("single").path(0).path("SpecialToken").path("id").asText());
        }
        return false;
    }

    private static void put(String[] tokens, int[] types, int id, String token, int type, Path dir) {
        if (id < 0 || id >= tokens.length) {
            throw new CheckpointFormatException(dir.resolve("tokenizer.json") + ": token id " + id + " ('" + token + "') is past config.json's vocab_size "
                    + tokens.length);
        }
        tokens[id] = token;
        types[id] = type;
    }

    private static Integer specialId(JsonNode token, List<String> tokens) {
        String text = token.isTextual() ? token.asText() : token.path("content").isTextual() ? token.path("content").asText() : null;
        if (text == null) return null;
        int id = tokens.indexOf(text);
        return id < 0 ? null : id;
    }

    private static boolean isByteLevel(JsonNode tok) {
        return tok.path("decoder").path("type").asText().equals("ByteLevel");
    }

    /** Llama 3's: Qwen2's but numbers in runs of up to three digits. */
    static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** Qwen2's pre-tokenizer regex, as its tokenizer.json writes it. */
    static final String QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /**
     * llama.cpp's name for the pre-tokenizer (which regex splits text before BPE): "gpt-2" for a plain ByteLevel
     * pre-tokenizer (GPT-2's regex), "qwen2" and "llama-bpe" for Qwen2's and Llama 3's split regexes; anything else is refused rather than guessed,
     * since a wrong one tokenizes differently.
     */
    static String preTokenizer(JsonNode tok, Path dir) {
        JsonNode pre = tok.path("pre_tokenizer");
        if (pre.path("type").asText().equals("ByteLevel") && pre.path("use_regex").asBoolean(true)) return "gpt-2";
        if (pre.path("type").asText().equals("Sequence")) {
            for (JsonNode p : pre.path("pretokenizers")) {
                if (!p.path("type").asText().equals("Split")) continue;
                String regex = p.path("pattern").path("Regex").asText();
                if (QWEN2_REGEX.equals(regex)) return "qwen2";
                if (LLAMA3_REGEX.equals(regex)) return "llama-bpe";
            }
        }
        throw new CheckpointFormatException(dir.resolve("tokenizer.json") + ": its pre-tokenizer is not one GGUF export knows yet "
                + "(GPT-2's or Qwen2's): llama.cpp would split text differently");
    }
}
