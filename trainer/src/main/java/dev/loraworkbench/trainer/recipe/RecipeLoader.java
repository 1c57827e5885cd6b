package dev.loraworkbench.trainer.recipe;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a recipe: YAML -> tree, {@code --set} overrides applied, merged over the defaults, checked
 * field by field against the {@link Recipe} records ({@link RecipeSchema}), then range-checked
 * ({@link RecipeRules}). Every problem is reported with file, line and dotted field path.
 */
public final class RecipeLoader {
    static final ObjectMapper YAML = JsonMapper.builder(new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                    .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES))
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
            .enable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
            .build();

    private RecipeLoader() {}

    public static LoadedRecipe load(Path file, List<String> overrides) {
        if (Files.isDirectory(file)) throw new RecipeException(List.of(file + ": is a directory; give the recipe's YAML file, e.g. recipes/quickstart.yaml"));
        if (!Files.isRegularFile(file)) throw new RecipeException(List.of(file + ": recipe file not found"));
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new RecipeException(List.of(file + ": cannot read (" + e.getMessage() + ")"));
        }
        return parse(text, file, overrides);
    }

    public static LoadedRecipe parse(String yaml, Path file, List<String> overrides) {
        JsonNode user;
        Map<String, Integer> lines;
        List<String> duplicates = new ArrayList<>();
        try {
            user = YAML.readTree(yaml);
            lines = fieldLines(yaml, file, duplicates);
        } catch (JsonProcessingException e) {
            int line = e.getLocation() == null ? 0 : e.getLocation().getLineNr();
            String text = line >= 1 && line <= yaml.lines().count() ? yaml.lines().skip(line - 1).findFirst().orElse("").strip() : "";
            String hint = e.getOriginalMessage().contains("'.nan'") || e.getOriginalMessage().toLowerCase(java.util.Locale.ROOT).contains("inf'")
                    ? " (not a number a recipe takes)" : "";
            throw new RecipeException(List.of(file + ":" + line + ": not valid YAML: " + e.getOriginalMessage() + hint
                    + (text.isEmpty() ? "" : " in '" + text + "'")));
        }
        if (!duplicates.isEmpty()) throw new RecipeException(duplicates); // YAML would keep the last silently (a second section resets the first)
        if (user == null || user.isMissingNode() || user.isNull()) user = YAML.createObjectNode();
        if (!user.isObject()) throw new RecipeException(List.of(file + ":1: a recipe is a mapping with sections model, lora, dataset, training, ..."));
        ObjectNode tree = (ObjectNode) user;
        Locator locator = new Locator(file, lines);
        List<String> problems = new ArrayList<>();
        for (String override : overrides) Overrides.apply(tree, override, locator, problems);
        if (tree.get("quantization") != null && tree.get("quantization").isTextual()) {
            // shorthand: "quantization: nf4" means {type: nf4}
            tree.set("quantization", YAML.createObjectNode().put("type", tree.get("quantization").asText()));
        }
        textAlias(tree);
        RecipeSchema.check(tree, Recipe.class, "", locator, problems);
        if (!problems.isEmpty()) throw new RecipeException(problems);

        ObjectNode merged = defaults();
        merge(merged, tree);
        Recipe recipe;
        try {
            recipe = YAML.treeToValue(merged, Recipe.class);
        } catch (JsonProcessingException e) {
            throw new RecipeException(List.of(file + ": " + e.getOriginalMessage()));
        }
        RecipeRules.check(recipe, locator, problems);
        if (!problems.isEmpty()) throw new RecipeException(problems);
        Path base = file.toAbsolutePath().getParent();
        return new LoadedRecipe(recipe, file, base, merged);
    }

    /** {@code format: completion} (Axolotl's name for raw text) is read as {@code format: text}. */
    private static void textAlias(ObjectNode tree) {
        List<JsonNode> holders = new ArrayList<>();
        holders.add(tree.path("dataset"));
        tree.path("dataset").path("sources").forEach(holders::add);
        for (JsonNode h : holders) {
            if (h instanceof ObjectNode o && o.path("format").asText("").equalsIgnoreCase(dev.loraworkbench.datasets.DatasetFormat.TEXT_ALIAS)) {
                o.put("format", "text");
            }
        }
    }

    static ObjectNode defaults() {
        try (InputStream in = RecipeLoader.class.getResourceAsStream("/recipe-defaults.yaml")) {
            return (ObjectNode) YAML.readTree(in);
        } catch (IOException e) {
            throw new IllegalStateException("recipe-defaults.yaml missing from the jar", e);
        }
    }

    /** User values over the defaults; an explicit null (or an empty section) keeps the default. */
    private static void merge(ObjectNode into, ObjectNode from) {
        from.fields().forEachRemaining(e -> {
            JsonNode existing = into.get(e.getKey());
            if (e.getValue().isNull()) return;
            if (existing instanceof ObjectNode o && e.getValue() instanceof ObjectNode f) merge(o, f);
            else into.set(e.getKey(), e.getValue());
        });
    }

    /**
     * Line of every field, keyed by dotted path ("training.lr"); a field given twice goes to {@code duplicates}
     * (once per duplicated section, not again for each of its fields).
     */
    private static Map<String, Integer> fieldLines(String yaml, Path file, List<String> duplicates) throws JsonProcessingException {
        Map<String, Integer> lines = new HashMap<>();
        List<String> duplicatedSections = new ArrayList<>();
        try (JsonParser p = YAML.getFactory().createParser(yaml)) {
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                if (t == JsonToken.FIELD_NAME) {
                    String path = p.getParsingContext().pathAsPointer().toString().substring(1).replace('/', '.');
                    int line = p.currentTokenLocation().getLineNr();
                    Integer first = lines.putIfAbsent(path, line);
                    if (first != null && duplicatedSections.stream().noneMatch(d -> path.startsWith(d + "."))) {
                        duplicates.add(file + ":" + line + ": " + path + ": given twice (first at line " + first
                                + "); YAML would silently keep only the last: keep one");
                        duplicatedSections.add(path);
                    }
                }
            }
        } catch (JsonProcessingException e) {
            throw e;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return lines;
    }

    /** Formats "file:line: path: message" for a field, falling back to the nearest parent that has a line. */
    record Locator(Path file, Map<String, Integer> lines) {
        static final int FROM_COMMAND_LINE = -1;

        String at(String path, String message) {
            if (Integer.valueOf(FROM_COMMAND_LINE).equals(lines.get(path))) return "--set " + path + ": " + message;
            String p = path;
            Integer line = null;
            while (line == null && !p.isEmpty()) {
                line = lines.get(p);
                int dot = p.lastIndexOf('.');
                p = dot < 0 ? "" : p.substring(0, dot);
            }
            return file + (line == null ? "" : ":" + line) + ": " + path + ": " + message;
        }
    }
}
