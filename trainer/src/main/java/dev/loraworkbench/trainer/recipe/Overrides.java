package dev.loraworkbench.trainer.recipe;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.util.List;

/** Command-line {@code --set section.field=value} overrides; the value is read as a YAML scalar or flow list. */
final class Overrides {
    private Overrides() {}

    static void apply(ObjectNode tree, String override, RecipeLoader.Locator at, List<String> problems) {
        int eq = override.indexOf('=');
        if (eq <= 0) {
            problems.add("--set " + override + ": expected section.field=value, e.g. --set training.max_steps=20");
            return;
        }
        String path = override.substring(0, eq).trim();
        String raw = override.substring(eq + 1).trim();
        if (RecipeSchema.typeAt(path) == null) {
            String near = RecipeSchema.nearest(path, RecipeSchema.allPaths());
            problems.add("--set " + path + ": unknown field" + (near == null ? "" : "; did you mean '" + near + "'?"));
            return;
        }
        JsonNode value;
        try {
            value = raw.isEmpty() ? TextNode.valueOf("") : RecipeLoader.YAML.readTree(raw);
        } catch (JsonProcessingException e) {
            value = TextNode.valueOf(raw);
        }
        String[] parts = path.split("\\.");
        ObjectNode node = tree;
        for (int i = 0; i < parts.length - 1; i++) {
            JsonNode child = node.get(parts[i]);
            if (child == null || !child.isObject()) {
                if (child != null && child.isTextual() && parts[i].equals("quantization")) {
                    child = RecipeLoader.YAML.createObjectNode().put("type", child.asText());
                    node.set(parts[i], child);
                } else {
                    child = node.putObject(parts[i]);
                }
            }
            node = (ObjectNode) child;
        }
        node.set(parts[parts.length - 1], value);
        at.lines().put(path, RecipeLoader.Locator.FROM_COMMAND_LINE);
    }
}
