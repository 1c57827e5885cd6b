package dev.loraworkbench.datasets;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model directory's tokenizer: tokenizer.json (through DJL's binding of HF tokenizers) plus
 * tokenizer_config.json for the chat template and the special tokens.
 */
public final class TokenizerFiles implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HuggingFaceTokenizer tokenizer;
    private final ChatTemplate template;
    private final String eosToken;
    private final String padToken;
    private final List<String> specialTokens;
    /** The BOS token when tokenizer_config.json says documents start with one (add_bos_token, as Llama's do), else null. */
    private final String documentBos;

    private TokenizerFiles(HuggingFaceTokenizer tokenizer, ChatTemplate template, String eosToken, String padToken, List<String> specialTokens,
            String documentBos) {
        this.tokenizer = tokenizer;
        this.template = template;
        this.eosToken = eosToken;
        this.padToken = padToken;
        this.specialTokens = specialTokens;
        this.documentBos = documentBos;
    }

    public static TokenizerFiles load(Path modelDir) {
        return load(modelDir, null);
    }

    /**
     * @param chatTemplate Jinja source used instead of tokenizer_config.json's {@code chat_template} (base models
     *     ship none; a recipe may also want its own), or null for the model's
     */
    public static TokenizerFiles load(Path modelDir, String chatTemplate) {
        Path tokenizerJson = modelDir.resolve("tokenizer.json");
        Path configJson = modelDir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(tokenizerJson)) throw new DatasetException(tokenizerJson + ": missing; the model directory needs a Hugging Face tokenizer.json");
        if (!Files.isRegularFile(configJson)) throw new DatasetException(configJson + ": missing; it holds the chat_template and special tokens");
        JsonNode config;
        try {
            config = JSON.readTree(configJson.toFile());
        } catch (IOException e) {
            throw new DatasetException(JsonProblems.describe(configJson, e));
        }
        JsonNode tmpl = chatTemplate != null ? com.fasterxml.jackson.databind.node.TextNode.valueOf(chatTemplate) : config.get("chat_template");
        if (tmpl == null || !tmpl.isTextual()) {
            throw new DatasetException(configJson + ": field 'chat_template' is missing (a base model?); set model.chat_template in the recipe "
                    + "(chatml, or a .jinja file) or use the instruct model's tokenizer files");
        }
        Map<String, Object> special = new HashMap<>();
        for (String key : new String[] {"bos_token", "eos_token", "pad_token", "unk_token"}) {
            String value = tokenText(config.get(key));
            special.put(key, value == null ? "" : value);
        }
        String eos = (String) special.get("eos_token");
        String pad = (String) special.get("pad_token");
        try {
            HuggingFaceTokenizer tok = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(tokenizerJson)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
            String bos = (String) special.get("bos_token");
            String documentBos = config.path("add_bos_token").asBoolean(false) && !bos.isEmpty() ? bos : null;
            return new TokenizerFiles(tok, new ChatTemplate(tmpl.asText(), special), eos, pad.isEmpty() ? eos : pad, specialAddedTokens(tokenizerJson),
                    documentBos);
        } catch (IOException | RuntimeException e) {
            throw new DatasetException(tokenizerJson + ": cannot load tokenizer (" + e.getMessage() + ")");
        }
    }

    /**
     * The largest token id tokenizer.json can produce: over model.vocab (a token -> id map, or a list whose index is the
     * id) and added_tokens; streamed, so a 152k vocabulary is never held as a tree. -1 for a file with neither.
     */
    public static int largestId(Path tokenizerJson) {
        int largest = -1;
        try (JsonParser p = JSON.getFactory().createParser(tokenizerJson.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) return -1;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken value = p.nextToken();
                if (field.equals("added_tokens") && value == JsonToken.START_ARRAY) {
                    for (JsonNode t : (JsonNode) JSON.readTree(p)) largest = Math.max(largest, t.path("id").asInt(-1));
                } else if (field.equals("model") && value == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String key = p.currentName();
                        JsonToken v = p.nextToken();
                        if (key.equals("vocab") && v == JsonToken.START_OBJECT) {
                            while (p.nextToken() == JsonToken.FIELD_NAME) {
                                p.nextToken();
                                largest = Math.max(largest, p.getIntValue());
                            }
                        } else if (key.equals("vocab") && v == JsonToken.START_ARRAY) {
                            int n = 0;
                            while (p.nextToken() != JsonToken.END_ARRAY) {
                                p.skipChildren();
                                n++;
                            }
                            largest = Math.max(largest, n - 1);
                        } else {
                            p.skipChildren();
                        }
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new DatasetException(JsonProblems.describe(tokenizerJson, e));
        }
        return largest;
    }

    /** The {@code "special": true} entries of tokenizer.json's added_tokens, read without building the whole (10+ MB) tree. */
    private static List<String> specialAddedTokens(Path tokenizerJson) throws IOException {
        List<String> out = new ArrayList<>();
        try (JsonParser p = JSON.getFactory().createParser(tokenizerJson.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) return out;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                if (!field.equals("added_tokens")) {
                    p.skipChildren();
                    continue;
                }
                for (JsonNode t : (JsonNode) JSON.readTree(p)) {
                    if (t.path("special").asBoolean(false)) out.add(t.path("content").asText());
                }
            }
        }
        return List.copyOf(out);
    }

    /** Special tokens appear either as plain strings or as AddedToken objects with a "content" field. */
    private static String tokenText(JsonNode node) {
        if (node == null || node.isNull()) return null;
        if (node.isTextual()) return node.asText();
        JsonNode content = node.get("content");
        return content == null ? null : content.asText();
    }

    public ChatTemplate template() { return template; }

    /** Added tokens marked special in tokenizer.json (turn markers such as {@code <|im_end|>} or {@code <|eot_id|>}). */
    public List<String> specialTokens() { return specialTokens; }

    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    public String decode(int[] ids) {
        return decode(ids, false);
    }

    /** Text of the ids; {@code skipSpecial} leaves out special tokens (end-of-turn markers) as a reply shown to a user should. */
    public String decode(int[] ids, boolean skipSpecial) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        return tokenizer.decode(l, skipSpecial);
    }

    /** Id of a single-token string such as the pad or eos token. */
    public int tokenId(String token) {
        int[] ids = encode(token);
        if (ids.length != 1) throw new DatasetException("token '" + token + "' is not a single token in tokenizer.json");
        return ids[0];
    }

    public int padId() { return tokenId(padToken); }

    public String eosToken() { return eosToken; }

    /**
     * The token that ends a document in raw-text training: the pretraining end-of-text token where the vocabulary has one
     * (Qwen's {@code <|endoftext|>}, Llama 3's {@code <|end_of_text|>}; an instruct model's eos is its end-of-turn
     * marker instead), else the eos token.
     */
    public int documentEndId() {
        for (String t : List.of("<|endoftext|>", "<|end_of_text|>", "</s>")) if (specialTokens.contains(t)) return tokenId(t);
        return tokenId(eosToken);
    }

    /** Ids a document starts with: the BOS token for tokenizers that add one (Llama), none otherwise (Qwen). */
    public int[] documentStartIds() {
        return documentBos == null ? new int[0] : new int[] {tokenId(documentBos)};
    }

    @Override
    public void close() { tokenizer.close(); }
}
