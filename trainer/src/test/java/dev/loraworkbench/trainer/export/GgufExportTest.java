package dev.loraworkbench.trainer.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.loraworkbench.datasets.Message;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.generate.Generator;
import dev.loraworkbench.trainer.generate.Sampler;
import dev.loraworkbench.trainer.io.GgufWriter.TensorType;
import dev.loraworkbench.trainer.io.LlamaCpp;
import dev.loraworkbench.trainer.loader.AdapterSource;
import dev.loraworkbench.trainer.loader.LoadedModel;
import dev.loraworkbench.trainer.loader.ModelLoader;
import dev.loraworkbench.trainer.loader.ModelSpec;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.model.TinyModels;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GGUF export checked by llama.cpp itself (npm node-llama-cpp, fetched by the build): it loads what we write, computes the
 * logits our decoder computes, continues a prompt greedily with the same tokens, and tokenizes text to the same ids.
 */
class GgufExportTest {
    private static Path llamaCpp;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<GgufFileType> UNQUANTIZED = List.of(GgufFileType.F32, GgufFileType.F16, GgufFileType.BF16);
    @TempDir static Path dir;
    private static Path model;

    @BeforeAll
    static void llamaCppAndTheShippedModel() throws Exception {
        llamaCpp = LlamaCpp.home();
        model = dir.resolve("tiny-qwen2");
        TinyModels.create(TinyModels.TINY_QWEN2, model, 0); // the pretrained one: a real language model, no near-ties for greedy
    }

    /** One request to llama.cpp: logits at some positions of {@code ids}, a greedy continuation, tokenizations. */
    private static JsonNode llama(Path gguf, int[] ids, int[] logitsAt, int generate, List<String> texts) throws Exception {
        return llama(gguf, null, ids, logitsAt, generate, texts);
    }

    /** @param lora an adapter GGUF llama.cpp applies on top, or null */
    private static JsonNode llama(Path gguf, Path lora, int[] ids, int[] logitsAt, int generate, List<String> texts) throws Exception {
        ObjectNode request = JSON.createObjectNode().put("model", gguf.toString()).put("generate", generate);
        if (lora != null) request.put("lora", lora.toString());
        ids(request.putArray("ids"), ids);
        ids(request.putArray("logitsAt"), logitsAt);
        texts.forEach(request.putArray("texts")::add);
        ProcessBuilder pb = new ProcessBuilder("node", Path.of("scripts/llama-cpp/check.mjs").toAbsolutePath().toString());
        pb.environment().put("LLAMA_CPP_HOME", llamaCpp.toString());
        pb.redirectError(dir.resolve("llama.log").toFile());
        Process p = pb.start();
        try (var in = p.getOutputStream()) {
            in.write(JSON.writeValueAsBytes(request));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "llama.cpp finished");
        assertEquals(0, p.exitValue(), "llama.cpp failed: " + Files.readString(dir.resolve("llama.log")));
        return JSON.readTree(out);
    }

    private static void ids(com.fasterxml.jackson.databind.node.ArrayNode array, int[] ids) {
        for (int id : ids) array.add(id);
    }

    private static float[] row(JsonNode logits, int position) {
        JsonNode values = logits.get(Integer.toString(position));
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) out[i] = (float) values.get(i).asDouble();
        return out;
    }

    /** What the workbench computes for the prompt: logits at every position and a greedy continuation. */
    private record Reference(float[][] logits, List<Integer> greedy) {}

    private static Reference reference(LoadedModel loaded, int[] prompt, int n) {
        int vocab = loaded.checkpoint().config().vocabSize();
        float[] all;
        try (NDManager scope = loaded.manager().newSubManager()) {
            long[] ids = java.util.Arrays.stream(prompt).asLongStream().toArray();
            all = loaded.decoder().logits(Tensors.of(scope, ids, new Shape(1, ids.length)), new int[] {ids.length}, false).toFloatArray();
        }
        float[][] logits = new float[prompt.length][];
        for (int t = 0; t < prompt.length; t++) logits[t] = java.util.Arrays.copyOfRange(all, t * vocab, (t + 1) * vocab);
        List<Integer> greedy = new Generator(loaded.decoder(), loaded.manager()).generate(prompt, n, Sampler.greedy(), Set.of(), x -> { }).tokens();
        return new Reference(logits, greedy);
    }

    private static int[] prompt(TokenizerFiles tok, String question) {
        return tok.encode(tok.template().render(List.of(Message.user(question)), true));
    }

    /** bf16 keeps 8 bits of mantissa (f16: 11): its weights move the logits more. */
    private static double tolerance(GgufFileType type) {
        return switch (type) {
            case F32 -> 1e-3;
            case F16 -> 5e-3;
            case BF16 -> 1e-2;
            default -> throw new IllegalArgumentException("quantized types are compared with their dequantized weights: " + type);
        };
    }

    /** Largest |a - b| over the row, relative to the row's largest |logit|. */
    private static double relativeDifference(float[] ours, float[] theirs) {
        double diff = 0, scale = 0;
        for (int v = 0; v < ours.length; v++) {
            diff = Math.max(diff, Math.abs(ours[v] - theirs[v]));
            scale = Math.max(scale, Math.abs(ours[v]));
        }
        return diff / scale;
    }

    private static void assertSameModel(Path gguf, Reference ours, int[] prompt, double tolerance, String what) throws Exception {
        assertSameModel(gguf, null, ours, prompt, tolerance, what);
    }

    private static void assertSameModel(Path gguf, Path lora, Reference ours, int[] prompt, double tolerance, String what) throws Exception {
        int[] positions = {0, prompt.length / 2, prompt.length - 1};
        JsonNode answer = llama(gguf, lora, prompt, positions, ours.greedy().size(), List.of());
        for (int position : positions) {
            double d = relativeDifference(ours.logits()[position], row(answer.get("logits"), position));
            System.out.printf("gguf %s: position %d, largest logit difference %.2e of the largest logit%n", what, position, d);
            assertTrue(d <= tolerance, what + ": logits at position " + position + " differ by " + d + " of the largest");
        }
        List<Integer> theirs = new ArrayList<>();
        answer.get("greedy").forEach(t -> theirs.add(t.asInt()));
        assertEquals(ours.greedy(), theirs, what + ": greedy continuation");
    }

    @Test
    void f32AndF16ExportsComputeWhatTheWorkbenchComputes() throws Exception {
        try (TokenizerFiles tok = TokenizerFiles.load(model);
             LoadedModel loaded = ModelLoader.load(new ModelSpec(model, null, Recipe.ComputeDtype.FP32, "cpu", new AdapterSource.None(), 0), null)) {
            // raw code, which the pretrained model continues with varied tokens (its chat answers start with blanks)
            int[] prompt = tok.encode("File: trainer/src/main/java/dev/loraworkbench/trainer/model/Decoder.java\n\npackage dev.loraworkbench");
            Reference ours = reference(loaded, prompt, 24);
            assertTrue(new java.util.HashSet<>(ours.greedy()).size() >= 4, "a continuation worth comparing: " + ours.greedy());
            for (GgufFileType type : UNQUANTIZED) {
                Path gguf = dir.resolve("tiny-" + type + ".gguf");
                GgufExport.export(model, null, null, gguf, type, new PrintStream(new ByteArrayOutputStream()));
                // measured on this model: at most 1.8e-4 (f32: llama.cpp's own kernels), 2.0e-4 (f16), 1.3e-3 (bf16: weights rounded)
                assertSameModel(gguf, ours, prompt, tolerance(type), type.name());
            }
        }
    }

    /**
     * q8_0, q4_0 and q4_k_m: llama.cpp reads our blocks as the weights we meant. The reference is the workbench's decoder
     * on the same weights quantized and dequantized by {@link dev.loraworkbench.trainer.io.GgmlQuants} and
     * {@link dev.loraworkbench.trainer.io.GgmlKQuants}; what is left is llama.cpp quantizing the activations to 8 bits
     * in its quantized matmuls. Greedy agreement with f16 is reported. On the tiny model (hidden 192, no multiple of 256)
     * q4_k_m is mostly the fallbacks (q5_0, q8_0) with real q4_k and q6_k in ffn_down (rows of 512).
     */
    @Test
    void quantizedExportsHoldTheWeightsWeQuantized() throws Exception {
        try (TokenizerFiles tok = TokenizerFiles.load(model)) {
            int[] prompt = tok.encode("File: trainer/src/main/java/dev/loraworkbench/trainer/model/Decoder.java\n\npackage dev.loraworkbench");
            for (GgufFileType type : List.of(GgufFileType.Q8_0, GgufFileType.Q4_0, GgufFileType.Q4_K_M)) {
                // measured: at most 4.4e-3 (q8_0, q4_0) and 1.1e-2 (q4_k_m: its k-quants multiply activations quantized to
                // q8_K, one scale per 256); all of q4_k_m's rounding moves the logits by 1.2e-2 to 2.2e-2, a block read wrongly by far more
                JsonNode answer = assertHoldsItsWeights(model, "tiny", type, prompt, 24, type == GgufFileType.Q4_K_M ? 1.5e-2 : 1e-2);
                assertTrue(answer.get("agreement").asInt() >= 20, type + ": greedy continuations part after " + answer.get("agreement")); // measured: 24 of 24
            }
        }
    }

    /**
     * q4_k_m as llama-quantize mixes it, checked in the file llama.cpp loaded: on the tiny model the head's and the
     * 192-long rows' fallbacks, on a random model with hidden 256 the k-quants themselves (the head q6_k, attn_v and
     * ffn_down q6_k in the layers use_more_bits picks, the rest q4_k); general.file_type 15 (LLAMA_FTYPE_MOSTLY_Q4_K_M).
     */
    @Test
    void q4KMMixesTypesAsLlamaQuantizeDoes() throws Exception {
        ObjectNode config = (ObjectNode) JSON.readTree(model.resolve("config.json").toFile());
        config.put("hidden_size", 256).put("num_attention_heads", 4).put("num_key_value_heads", 2).put("tie_word_embeddings", false)
                .remove("workbench_preset"); // not the shipped model
        Path wide = randomModel(dir.resolve("hidden-256"), model, config, 13);
        Files.copy(model.resolve("generation_config.json"), wide.resolve("generation_config.json"));
        try (TokenizerFiles tok = TokenizerFiles.load(wide)) {
            int[] prompt = tok.encode("File: trainer/src/main/java/dev/loraworkbench/trainer/model/Decoder.java\n\npackage dev.loraworkbench");
            // measured: at most 2.3e-2 (q8_0 exports of this random model: 1.5e-2); q4_k_m's rounding itself moves them by 2e-1
            JsonNode answer = assertHoldsItsWeights(wide, "hidden-256", GgufFileType.Q4_K_M, prompt, 16, 3e-2);
            assertTrue(answer.get("agreement").asInt() >= 12, "greedy continuations part after " + answer.get("agreement")); // measured: 16 of 16
            assertEquals(15, answer.get("fileType").asInt(), "general.file_type");
            assertTypes(answer, Map.of("token_embd.weight", TensorType.Q4_K, "output.weight", TensorType.Q6_K, "output_norm.weight", TensorType.F32,
                    "blk.0.attn_q.weight", TensorType.Q4_K, "blk.0.attn_q.bias", TensorType.F32, "blk.1.attn_v.weight", TensorType.Q4_K,
                    "blk.2.attn_v.weight", TensorType.Q6_K, "blk.3.attn_v.weight", TensorType.Q6_K, "blk.0.ffn_down.weight", TensorType.Q4_K,
                    "blk.3.ffn_down.weight", TensorType.Q6_K));
        }
        Path gguf = dir.resolve("types-tiny-Q4_K_M.gguf");
        GgufExport.export(model, null, null, gguf, GgufFileType.Q4_K_M, new PrintStream(new ByteArrayOutputStream()));
        JsonNode tiny = llama(gguf, new int[] {1}, new int[0], 0, List.of());
        assertEquals(15, tiny.get("fileType").asInt(), "general.file_type");
        // rows of 192: Q4_K falls back to Q5_0, Q6_K to Q8_0; the head is Q8_0 outright; ffn_down's rows are 512 long
        assertTypes(tiny, Map.of("token_embd.weight", TensorType.Q5_0, "output.weight", TensorType.Q8_0, "blk.0.attn_k.weight", TensorType.Q5_0,
                "blk.1.attn_v.weight", TensorType.Q5_0, "blk.2.attn_v.weight", TensorType.Q8_0, "blk.0.ffn_gate.weight", TensorType.Q5_0,
                "blk.1.ffn_down.weight", TensorType.Q4_K, "blk.2.ffn_down.weight", TensorType.Q6_K, "blk.3.ffn_down.weight", TensorType.Q6_K,
                "blk.3.ffn_norm.weight", TensorType.F32));
    }

    private static void assertTypes(JsonNode answer, Map<String, TensorType> expected) {
        expected.forEach((name, type) -> assertEquals(type.id, answer.get("tensorTypes").path(name).asInt(-1), name + " in " + type));
    }

    /**
     * Exports {@code modelDir} as {@code type} and f16; llama.cpp's logits on the prompt must match the workbench's on the
     * weights as the GGUF stores them, within {@code tolerance} of the largest logit. Prints the differences and greedy
     * agreement with the workbench and with the f16 export; returns llama.cpp's answer with "agreement" (leading greedy
     * tokens shared with the workbench) added.
     */
    private static JsonNode assertHoldsItsWeights(Path modelDir, String tag, GgufFileType type, int[] prompt, int n, double tolerance) throws Exception {
        Path f16 = dir.resolve(tag + "-agreement-f16.gguf");
        if (!Files.exists(f16)) GgufExport.export(modelDir, null, null, f16, GgufFileType.F16, new PrintStream(new ByteArrayOutputStream()));
        JsonNode f16Greedy = llama(f16, prompt, new int[0], n, List.of()).get("greedy");
        Path gguf = dir.resolve(tag + "-" + type + ".gguf");
        GgufExport.export(modelDir, null, null, gguf, type, new PrintStream(new ByteArrayOutputStream()));
        try (LoadedModel loaded = ModelLoader.load(new ModelSpec(dequantizedCopy(modelDir, tag, type), null, Recipe.ComputeDtype.FP32, "cpu",
                new AdapterSource.None(), 0), null)) {
            Reference ours = reference(loaded, prompt, n);
            int[] positions = {0, prompt.length / 2, prompt.length - 1};
            ObjectNode answer = (ObjectNode) llama(gguf, prompt, positions, n, List.of());
            for (int position : positions) {
                double d = relativeDifference(ours.logits()[position], row(answer.get("logits"), position));
                System.out.printf("gguf %s %s: position %d, largest logit difference %.2e of the largest logit%n", tag, type, position, d);
                assertTrue(d <= tolerance, tag + " " + type + ": logits at position " + position + " differ by " + d + " of the largest");
            }
            int agree = agreement(ours.greedy(), answer.get("greedy"));
            System.out.printf("gguf %s %s (%d bytes, f16 %d): greedy agrees with the workbench on the dequantized weights for %d of %d tokens, "
                    + "with f16 for %d%n", tag, type, Files.size(gguf), Files.size(f16), agree, n, agreement(listOf(f16Greedy), answer.get("greedy")));
            return answer.put("agreement", agree);
        }
    }

    /** The model with each weight as the GGUF of {@code type} stores it: quantized and dequantized where that type quantizes it. */
    private static Path dequantizedCopy(Path modelDir, String tag, GgufFileType type) throws Exception {
        Path out = Files.createDirectories(dir.resolve("dequantized-" + tag + "-" + type));
        for (String file : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")) {
            if (Files.exists(modelDir.resolve(file))) Files.copy(modelDir.resolve(file), out.resolve(file));
        }
        var writer = new dev.loraworkbench.trainer.io.SafetensorsWriter();
        try (HfCheckpoint ckpt = HfCheckpoint.open(modelDir)) {
            GgufFileType.Layout layout = GgufExport.layout(ckpt, "qwen2");
            for (var t : ckpt.tensorsInOrder()) {
                float[] values = ckpt.floats(t.name());
                TensorType stored = type.tensorType(GgufExport.ggufName(t.name()), t.shape(), layout);
                if (stored.quantized()) {
                    var buffer = ByteBuffer.allocate(values.length / stored.blockSize * stored.blockBytes).order(ByteOrder.LITTLE_ENDIAN);
                    stored.encode(values, 0, values.length, buffer);
                    values = stored.decode(buffer.flip(), values.length);
                }
                writer.putF32(t.name(), t.shape(), values);
            }
        }
        writer.write(out.resolve("model.safetensors"));
        return out;
    }

    private static List<Integer> listOf(JsonNode ids) {
        List<Integer> out = new ArrayList<>();
        ids.forEach(t -> out.add(t.asInt()));
        return out;
    }

    /** Leading tokens two greedy continuations share. */
    private static int agreement(List<Integer> ours, JsonNode theirs) {
        int n = 0;
        while (n < ours.size() && n < theirs.size() && ours.get(n) == theirs.get(n).asInt()) n++;
        return n;
    }

    @Test
    void llamaCppTokenizesTextAsTheWorkbenchDoes() throws Exception {
        Path gguf = dir.resolve("tokenize.gguf");
        GgufExport.export(model, null, null, gguf, GgufFileType.F16, new PrintStream(new ByteArrayOutputStream()));
        List<String> texts = List.of("How do I run the test suite?", "def f(x):\n    return x ** 2  # square\n", "日本語のテキスト and émojis 🙂👍🏽",
                "tabs\tand   runs of    spaces\n\n\nand newlines", "numbers 1234567 3.14159 -42", "CamelCaseIdentifiers snake_case_names");
        JsonNode answer = llama(gguf, new int[] {1}, new int[0], 0, texts);
        try (TokenizerFiles tok = TokenizerFiles.load(model)) {
            for (int i = 0; i < texts.size(); i++) {
                List<Integer> theirs = new ArrayList<>();
                answer.get("tokens").get(i).forEach(t -> theirs.add(t.asInt()));
                assertEquals(java.util.Arrays.stream(tok.encode(texts.get(i))).boxed().toList(), theirs, texts.get(i));
            }
        }
    }

    /**
     * Qwen2.5's real tokenizer (151,665 tokens, its split regex, its added and special tokens) on a small random qwen2
     * model: llama.cpp must recognise the pre-tokenizer as qwen2 and cut text into the ids Hugging Face's tokenizer does.
     */
    @Test
    void theRealQwenTokenizerTokenizesInLlamaCppAsInHuggingFace() throws Exception {
        ObjectNode config = JSON.createObjectNode().put("model_type", "qwen2").put("hidden_size", 64).put("intermediate_size", 96)
                .put("num_hidden_layers", 1).put("num_attention_heads", 4).put("num_key_value_heads", 2).put("vocab_size", 151936)
                .put("max_position_embeddings", 4096).put("rms_norm_eps", 1e-6).put("rope_theta", 1e6).put("tie_word_embeddings", true)
                .put("hidden_act", "silu");
        Path qwen = randomModel(dir.resolve("qwen2_5-small"), dev.loraworkbench.datasets.RealTokenizers.dir("qwen2_5"), config, 5);
        Path gguf = dir.resolve("qwen2_5-small.gguf");
        GgufExport.export(qwen, null, null, gguf, GgufFileType.F16, new PrintStream(new ByteArrayOutputStream()));
        List<String> texts = List.of("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n", "数字 12345 和中文，日本語も。",
                "emoji 🙂👍🏽 and accents: café naïve", "  leading spaces,\ttabs\n\n\nand\r\nnewlines   ", "I'm sure they'll say it's OK");
        JsonNode answer = llama(gguf, new int[] {1}, new int[0], 0, texts);
        try (TokenizerFiles tok = TokenizerFiles.load(qwen)) {
            for (int i = 0; i < texts.size(); i++) {
                assertEquals(java.util.Arrays.stream(tok.encode(texts.get(i))).boxed().toList(), listOf(answer.get("tokens").get(i)), texts.get(i));
            }
        }
    }

    /**
     * A small random Llama with what llama.cpp's llama graph needs translated: q/k rows permuted per head for its
     * interleaved rotation, Llama 3 rope scaling as rope_freqs, a head_dim that is not hidden/heads, GQA, a tied head,
     * and Meta's real Llama 3 tokenizer (pre llama-bpe). Checked alone, with a LoRA merged in, and with the LoRA GGUF.
     */
    @Test
    void aLlamaExportsWithItsRotationRopeScalingAndTokenizer() throws Exception {
        ObjectNode config = JSON.createObjectNode().put("model_type", "llama").put("hidden_size", 64).put("intermediate_size", 96)
                .put("num_hidden_layers", 2).put("num_attention_heads", 4).put("num_key_value_heads", 2).put("head_dim", 24)
                .put("vocab_size", 128256).put("max_position_embeddings", 4096).put("rms_norm_eps", 1e-5).put("rope_theta", 500000.0)
                .put("tie_word_embeddings", true).put("hidden_act", "silu");
        config.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0).put("high_freq_factor", 4.0)
                .put("original_max_position_embeddings", 64);
        Path llama = randomModel(dir.resolve("llama3-small"), dev.loraworkbench.datasets.RealTokenizers.dir("llama3"), config, 9);
        Path adapterDir = randomAdapter(llama, dir.resolve("llama-adapter"));

        try (TokenizerFiles tok = TokenizerFiles.load(llama);
             LoadedModel base = ModelLoader.load(new ModelSpec(llama, null, Recipe.ComputeDtype.FP32, "cpu", new AdapterSource.None(), 0), null);
             LoadedModel adapted = ModelLoader.load(new ModelSpec(llama, null, Recipe.ComputeDtype.FP32, "cpu", new AdapterSource.Saved(adapterDir), 0), null)) {
            int[] prompt = tok.encode("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)  # 12345 数字");
            PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
            Path baseGguf = dir.resolve("llama3-small.gguf");
            GgufExport.export(llama, null, null, baseGguf, GgufFileType.F32, quiet);
            assertSameModel(baseGguf, reference(base, prompt, 12), prompt, 1e-3, "llama f32");
            Reference tuned = reference(adapted, prompt, 12);
            Path merged = dir.resolve("llama3-merged.gguf");
            GgufExport.export(llama, adapterDir, null, merged, GgufFileType.F32, quiet);
            assertSameModel(merged, tuned, prompt, 1e-3, "llama merged f32");
            Path adapterGguf = dir.resolve("llama3-adapter.gguf");
            GgufExport.exportAdapter(llama, adapterDir, adapterGguf, TensorType.F32, quiet);
            assertSameModel(baseGguf, adapterGguf, tuned, prompt, 1e-3, "llama + LoRA GGUF");

            List<String> texts = List.of("def fib(n):\n    return n if n < 2 else fib(n - 1)\n", "numbers 1234567 and 3.14159", "日本語 and émojis 🙂👍🏽",
                    "  spaces,\ttabs\n\n\nnewlines   ", "I'm sure they'll say it's OK");
            JsonNode answer = llama(baseGguf, new int[] {1}, new int[0], 0, texts);
            for (int i = 0; i < texts.size(); i++) {
                assertEquals(java.util.Arrays.stream(tok.encode(texts.get(i))).boxed().toList(), listOf(answer.get("tokens").get(i)), texts.get(i));
            }
        }
    }

    /**
     * A small random checkpoint with the tokenizer in {@code tokenizerDir} (one of the real ones the build fetches, or the
     * tiny model's): unit-variance embeddings, projections scaled 1/√in, unit norms, zero biases, a head scaled 1/√hidden
     * unless tied.
     */
    private static Path randomModel(Path out, Path tokenizerDir, ObjectNode config, long seed) throws Exception {
        Files.createDirectories(out);
        for (String file : List.of("tokenizer.json", "tokenizer_config.json")) Files.copy(tokenizerDir.resolve(file), out.resolve(file));
        Files.writeString(out.resolve("config.json"), config.toString());
        var c = dev.loraworkbench.trainer.model.ModelConfig.load(out.resolve("config.json"));
        var writer = new dev.loraworkbench.trainer.io.SafetensorsWriter();
        Random random = new Random(seed);
        int hidden = c.hiddenSize();
        writer.putF32("model.embed_tokens.weight", new long[] {c.vocabSize(), hidden}, gaussian(random, (long) c.vocabSize() * hidden, 1.0));
        for (int layer = 0; layer < c.numLayers(); layer++) {
            writer.putF32("model.layers." + layer + ".input_layernorm.weight", new long[] {hidden}, ones(hidden));
            writer.putF32("model.layers." + layer + ".post_attention_layernorm.weight", new long[] {hidden}, ones(hidden));
            for (Projection p : Projection.values()) {
                writer.putF32(p.modulePath(layer) + ".weight", new long[] {p.out(c), p.in(c)}, gaussian(random, (long) p.out(c) * p.in(c), 1 / Math.sqrt(p.in(c))));
                if (p.hasBias(c)) writer.putF32(p.modulePath(layer) + ".bias", new long[] {p.out(c)}, new float[p.out(c)]);
            }
        }
        writer.putF32("model.norm.weight", new long[] {hidden}, ones(hidden));
        if (!c.tieWordEmbeddings()) {
            writer.putF32("lm_head.weight", new long[] {c.vocabSize(), hidden}, gaussian(random, (long) c.vocabSize() * hidden, 1 / Math.sqrt(hidden)));
        }
        writer.write(out.resolve("model.safetensors"));
        return out;
    }

    /** A PEFT adapter on every projection with random A and B (B non-zero, so it changes the model). */
    private static Path randomAdapter(Path model, Path adapterDir) throws Exception {
        try (HfCheckpoint ckpt = HfCheckpoint.open(model); NDManager m = NDManager.newBaseManager("PyTorch")) {
            var settings = new LoraAdapter.LoraSettings(8, 16, 0, Projection.NAMES, false);
            LoraAdapter init = LoraAdapter.init(ckpt.config(), settings, m, 7);
            Random random = new Random(11);
            var pairs = new LinkedHashMap<String, LoraAdapter.Pair>();
            init.pairs().forEach((module, p) -> {
                float[] b = new float[(int) p.b().size()];
                for (int i = 0; i < b.length; i++) b[i] = (float) random.nextGaussian() * 0.02f;
                pairs.put(module, new LoraAdapter.Pair(p.a(), m.create(b, p.b().getShape())));
            });
            PeftFormat.write(new LoraAdapter(pairs, settings), adapterDir, model.toString());
        }
        return adapterDir;
    }

    private static float[] gaussian(Random random, long n, double std) {
        float[] out = new float[Math.toIntExact(n)];
        for (int i = 0; i < out.length; i++) out[i] = (float) (random.nextGaussian() * std);
        return out;
    }

    private static float[] ones(int n) {
        float[] out = new float[n];
        java.util.Arrays.fill(out, 1f);
        return out;
    }

    /**
     * A run's export: the LoRA merged into the weights, and the LoRA as its own GGUF on the base's, compute what the base
     * with the adapter on it computes.
     */
    @Test
    void aMergedAdapterExportsAsTheAdaptedModel() throws Exception {
        Path adapterDir = randomAdapter(model, dir.resolve("adapter"));
        try (TokenizerFiles tok = TokenizerFiles.load(model);
             LoadedModel base = ModelLoader.load(new ModelSpec(model, null, Recipe.ComputeDtype.FP32, "cpu", new AdapterSource.None(), 0), null);
             LoadedModel adapted = ModelLoader.load(new ModelSpec(model, null, Recipe.ComputeDtype.FP32, "cpu", new AdapterSource.Saved(adapterDir), 0), null)) {
            int[] prompt = prompt(tok, "What does ./workbench plan do?");
            Reference ours = reference(adapted, prompt, 16);
            double moved = relativeDifference(ours.logits()[prompt.length - 1], reference(base, prompt, 1).logits()[prompt.length - 1]);
            assertTrue(moved > 1e-2, "the adapter changes the model: " + moved);
            for (GgufFileType type : UNQUANTIZED) {
                Path gguf = dir.resolve("merged-" + type + ".gguf");
                var result = GgufExport.export(model, adapterDir, null, gguf, type, new PrintStream(new ByteArrayOutputStream()));
                assertEquals(4 * 7, result.mergedModules());
                assertSameModel(gguf, ours, prompt, tolerance(type), "merged " + type);
            }
            // the same adapter as llama.cpp's LoRA GGUF, applied by llama.cpp on the base's GGUF
            Path baseGguf = dir.resolve("base-f32.gguf");
            GgufExport.export(model, null, null, baseGguf, GgufFileType.F32, new PrintStream(new ByteArrayOutputStream()));
            Path adapterGguf = dir.resolve("adapter.gguf");
            var adapterResult = GgufExport.exportAdapter(model, adapterDir, adapterGguf, TensorType.F32, new PrintStream(new ByteArrayOutputStream()));
            assertEquals(2 * 4 * 7, adapterResult.tensors());
            assertSameModel(baseGguf, adapterGguf, ours, prompt, tolerance(GgufFileType.F32), "base + LoRA GGUF");
        }
    }
}
