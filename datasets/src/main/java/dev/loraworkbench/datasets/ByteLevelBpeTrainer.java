package dev.loraworkbench.datasets;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Trains a small GPT-2 style byte-level BPE and writes it as a Hugging Face {@code tokenizer.json}
 * (ByteLevel pre-tokenizer and decoder, BPE model, special tokens as added tokens). This is the same
 * family of tokenizer Qwen2 and Llama 3 use, just with a vocabulary sized for a tiny model.
 */
public final class ByteLevelBpeTrainer {
    /** The GPT-2 split pattern, the one HF's ByteLevel pre-tokenizer uses with use_regex=true. */
    private static final Pattern GPT2_SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");
    /** GPT-2 byte -> printable character (also used by the tests' reference encoder). */
    static final String[] BYTE_TO_CHAR = byteToUnicode();

    private ByteLevelBpeTrainer() {}

    /** GPT-2's reversible map from bytes to printable unicode characters. */
    private static String[] byteToUnicode() {
        String[] map = new String[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = new String(Character.toChars(printable ? b : 256 + n++));
        }
        return map;
    }

    /**
     * @param corpus text to learn merges from
     * @param merges number of merges to learn (vocabulary = 256 bytes + merges + special tokens)
     * @param specialTokens added tokens, given ids after the learned vocabulary
     * @return tokenizer.json content
     */
    public static String train(String corpus, int merges, List<String> specialTokens) {
        Map<String, Integer> wordCounts = new HashMap<>();
        Matcher m = GPT2_SPLIT.matcher(corpus);
        while (m.find()) wordCounts.merge(toByteChars(m.group()), 1, Integer::sum);

        // words as symbol lists, in a stable order so training is deterministic
        List<List<String>> words = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        new TreeMap<>(wordCounts).forEach((w, c) -> {
            List<String> symbols = new ArrayList<>();
            w.codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
            words.add(symbols);
            counts.add(c);
        });

        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (String c : BYTE_TO_CHAR) vocab.put(c, vocab.size());
        List<String> learned = new ArrayList<>();
        for (int step = 0; step < merges; step++) {
            Map<String, Integer> pairCounts = new HashMap<>();
            for (int w = 0; w < words.size(); w++) {
                List<String> s = words.get(w);
                for (int i = 0; i + 1 < s.size(); i++) pairCounts.merge(s.get(i) + " " + s.get(i + 1), counts.get(w), Integer::sum);
            }
            String best = null;
            int bestCount = 1; // a pair seen once is not worth a token
            for (var e : pairCounts.entrySet()) {
                if (e.getValue() > bestCount || (e.getValue() == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (best == null) break;
            String[] parts = best.split(" ", 2);
            String joined = parts[0] + parts[1];
            if (vocab.containsKey(joined)) { // already reachable another way: merging it adds nothing new
                mergeEverywhere(words, parts[0], parts[1], joined);
                learned.add(best);
                continue;
            }
            vocab.put(joined, vocab.size());
            learned.add(best);
            mergeEverywhere(words, parts[0], parts[1], joined);
        }
        return toJson(vocab, learned, specialTokens);
    }

    private static void mergeEverywhere(List<List<String>> words, String left, String right, String joined) {
        for (List<String> s : words) {
            for (int i = 0; i + 1 < s.size(); i++) {
                if (s.get(i).equals(left) && s.get(i + 1).equals(right)) {
                    s.set(i, joined);
                    s.remove(i + 1);
                }
            }
        }
    }

    private static String toByteChars(String text) {
        StringBuilder sb = new StringBuilder();
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) sb.append(BYTE_TO_CHAR[b & 0xFF]);
        return sb.toString();
    }

    private static String toJson(Map<String, Integer> vocab, List<String> merges, List<String> specialTokens) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        int nextId = vocab.size();
        for (String special : specialTokens) {
            ObjectNode t = added.addObject();
            t.put("id", nextId++);
            t.put("content", special);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        root.putNull("normalizer");
        root.set("pre_tokenizer", byteLevel(json, false));
        root.putNull("post_processor");
        root.set("decoder", byteLevel(json, true));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        ObjectNode v = model.putObject("vocab");
        vocab.forEach(v::put);
        ArrayNode mergeArray = model.putArray("merges");
        merges.forEach(mergeArray::add);
        try {
            return json.writerWithDefaultPrettyPrinter().writeValueAsString(root);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ObjectNode byteLevel(ObjectMapper json, boolean addPrefixSpace) {
        ObjectNode n = json.createObjectNode();
        n.put("type", "ByteLevel");
        n.put("add_prefix_space", addPrefixSpace);
        n.put("trim_offsets", true);
        n.put("use_regex", true);
        return n;
    }
}
