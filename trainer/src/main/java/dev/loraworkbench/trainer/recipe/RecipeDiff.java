package dev.loraworkbench.trainer.recipe;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Field-by-field differences between two resolved recipes, and the recipe hash stored in checkpoints. */
public final class RecipeDiff {
    private RecipeDiff() {}

    /** "section.field: old -> new" for every field whose value differs. */
    public static List<String> between(String beforeYaml, String afterYaml) {
        Map<String, String> before = flatten(beforeYaml);
        Map<String, String> after = flatten(afterYaml);
        List<String> out = new ArrayList<>();
        TreeMap<String, String> keys = new TreeMap<>(before);
        after.forEach(keys::putIfAbsent);
        for (String key : keys.keySet()) {
            String a = before.getOrDefault(key, "(absent)");
            String b = after.getOrDefault(key, "(absent)");
            if (!a.equals(b)) out.add(key + ": " + a + " -> " + b);
        }
        return out;
    }

    public static String sha256(String text) {
        return dev.loraworkbench.datasets.Sha256.of(text);
    }

    /** Every field of a recipe as "section.field" -> value text. */
    public static Map<String, String> flatten(String yaml) {
        Map<String, String> out = new TreeMap<>();
        try {
            flatten(RecipeLoader.YAML.readTree(yaml), "", out);
        } catch (JsonProcessingException e) {
            throw new RecipeException(List.of("cannot read a stored recipe: " + e.getOriginalMessage()));
        }
        return out;
    }

    private static void flatten(JsonNode node, String path, Map<String, String> out) {
        if (node != null && node.isObject()) {
            node.fields().forEachRemaining(e -> flatten(e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey(), out));
        } else {
            out.put(path, node == null || node.isNull() ? "null" : node.isTextual() ? node.asText() : node.toString());
        }
    }
}
