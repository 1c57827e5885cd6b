package dev.loraworkbench.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A second, independent byte-level BPE encoder over a tokenizer.json, written in plain Java from the
 * format (added tokens, NFC normalizer, Split(Isolated) regex pre-tokenizers, ranked merges,
 * ignore_merges). It cross-checks the ids DJL's binding of the Rust tokenizers returns; it supports only the
 * pieces the Qwen / Llama 3 / DeepSeek tokenizer.json files use and fails on anything else.
 */
final class ReferenceBpe {
    private final Map<String, Integer> vocab = new HashMap<>();
    private final Map<String, Integer> mergeRank = new HashMap<>();
    private final List<Map.Entry<String, Integer>> added = new ArrayList<>();
    private final List<Pattern> splits = new ArrayList<>();
    private final boolean nfc;
    private final boolean ignoreMerges;
    private final String[] byteToChar = ByteLevelBpeTrainer.BYTE_TO_CHAR; // the fixed GPT-2 table; the Rust tokenizer is the independent side

    private ReferenceBpe(JsonNode json) {
        JsonNode model = json.get("model");
        if (!model.get("type").asText().equals("BPE")) throw new IllegalArgumentException("not a BPE model");
        model.get("vocab").fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        int rank = 0;
        for (JsonNode m : model.get("merges")) {
            String key = m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText();
            mergeRank.putIfAbsent(key, rank++);
        }
        ignoreMerges = model.path("ignore_merges").asBoolean(false);
        for (JsonNode a : json.get("added_tokens")) added.add(Map.entry(a.get("content").asText(), a.get("id").asInt()));
        added.sort(Comparator.comparingInt((Map.Entry<String, Integer> e) -> e.getKey().length()).reversed());
        JsonNode norm = json.get("normalizer");
        nfc = norm != null && !norm.isNull() && norm.path("type").asText().equals("NFC");
        if (norm != null && !norm.isNull() && !nfc && !(norm.path("type").asText().equals("Sequence") && norm.get("normalizers").isEmpty())) {
            throw new IllegalArgumentException("unsupported normalizer " + norm);
        }
        for (JsonNode p : json.get("pre_tokenizer").get("pretokenizers")) {
            switch (p.get("type").asText()) {
                case "Split" -> {
                    if (!p.get("behavior").asText().equals("Isolated") || p.path("invert").asBoolean()) throw new IllegalArgumentException("unsupported split " + p);
                    splits.add(Pattern.compile(p.get("pattern").get("Regex").asText()));
                }
                case "ByteLevel" -> {
                    if (p.path("use_regex").asBoolean() || p.path("add_prefix_space").asBoolean()) throw new IllegalArgumentException("unsupported " + p);
                }
                default -> throw new IllegalArgumentException("unsupported pre-tokenizer " + p);
            }
        }
    }

    static ReferenceBpe load(Path tokenizerJson) throws IOException {
        return new ReferenceBpe(new ObjectMapper().readTree(tokenizerJson.toFile()));
    }

    List<Integer> encode(String text) {
        List<Integer> ids = new ArrayList<>();
        int start = 0;
        while (start <= text.length()) {
            // leftmost added token, longest first at the same position
            int bestAt = text.length();
            Map.Entry<String, Integer> best = null;
            for (var a : added) {
                int at = text.indexOf(a.getKey(), start);
                if (at >= 0 && at < bestAt) { bestAt = at; best = a; }
            }
            encodeOrdinary(text.substring(start, bestAt), ids);
            if (best == null) break;
            ids.add(best.getValue());
            start = bestAt + best.getKey().length();
        }
        return ids;
    }

    private void encodeOrdinary(String text, List<Integer> ids) {
        if (text.isEmpty()) return;
        if (nfc) text = Normalizer.normalize(text, Normalizer.Form.NFC);
        List<String> pieces = List.of(text);
        for (Pattern p : splits) {
            List<String> next = new ArrayList<>();
            for (String piece : pieces) {
                Matcher m = p.matcher(piece);
                int last = 0;
                while (m.find()) {
                    if (m.start() > last) next.add(piece.substring(last, m.start()));
                    if (m.end() > m.start()) next.add(m.group());
                    last = m.end();
                }
                if (last < piece.length()) next.add(piece.substring(last));
            }
            pieces = next;
        }
        for (String piece : pieces) {
            StringBuilder mapped = new StringBuilder();
            for (byte b : piece.getBytes(StandardCharsets.UTF_8)) mapped.append(byteToChar[b & 0xff]);
            for (String symbol : bpe(mapped.toString())) {
                Integer id = vocab.get(symbol);
                if (id == null) throw new IllegalStateException("symbol not in vocab: " + symbol);
                ids.add(id);
            }
        }
    }

    private List<String> bpe(String word) {
        if (ignoreMerges && vocab.containsKey(word)) return List.of(word);
        List<String> symbols = new ArrayList<>();
        word.codePoints().forEach(c -> symbols.add(new String(Character.toChars(c))));
        while (symbols.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            int bestAt = -1;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer r = mergeRank.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (r != null && r < bestRank) { bestRank = r; bestAt = i; }
            }
            if (bestAt < 0) break;
            symbols.set(bestAt, symbols.get(bestAt) + symbols.remove(bestAt + 1));
        }
        return symbols;
    }
}
