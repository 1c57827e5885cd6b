package dev.loraworkbench.trainer.recipe;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;

/** A validated recipe, where it came from (relative paths resolve against {@code baseDir}) and the fully resolved tree. */
public record LoadedRecipe(Recipe recipe, Path file, Path baseDir, JsonNode resolved) {

    public Path resolve(String path) {
        Path p = Path.of(path);
        return p.isAbsolute() ? p : baseDir.resolve(p).normalize();
    }

    public Path modelDir() { return resolve(recipe.model().path()); }

    /** The single source's path (dataset.path); with dataset.sources, the first source's. */
    public Path datasetPath() { return resolve(recipe.dataset().sourceList().get(0).path()); }

    /** The model's tokenizer with the recipe's chat template, if it names one. */
    public dev.loraworkbench.datasets.TokenizerFiles tokenizer(Path modelDir) {
        return dev.loraworkbench.datasets.TokenizerFiles.load(modelDir, chatTemplateSource());
    }

    /** model.chat_template as Jinja source: null (the model's own), the built-in ChatML, or a file's text. */
    public String chatTemplateSource() {
        String t = recipe.model().chatTemplate();
        if (t == null) return null;
        if (t.equalsIgnoreCase("chatml")) return dev.loraworkbench.datasets.ChatTemplate.CHATML;
        Path file = resolve(t);
        try {
            return java.nio.file.Files.readString(file);
        } catch (java.io.IOException e) {
            String why = e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getMessage();
            throw new RecipeException(java.util.List.of(this.file + ": model.chat_template: cannot read " + file
                    + " (" + why + "); expected chatml or a Jinja template file"));
        }
    }

    public Path runsDir() {
        String dir = recipe.output().runsDir();
        return dir == null ? Path.of("runs").toAbsolutePath() : resolve(dir);
    }

    /**
     * The recipe with every default filled in and every path made absolute, as YAML: what the run actually
     * used, loadable from anywhere (the run directory keeps it for resume).
     */
    public String resolvedYaml() {
        ObjectNode copy = resolved.deepCopy();
        absolute(copy, "model", "path");
        absolute(copy, "model", "config");
        JsonNode template = copy.path("model").get("chat_template");
        if (template != null && template.isTextual() && !template.asText().equalsIgnoreCase("chatml")) absolute(copy, "model", "chat_template");
        absolute(copy, "dataset", "path");
        absolute(copy, "dataset", "eval_path");
        for (JsonNode source : copy.path("dataset").path("sources")) {
            JsonNode p = source.get("path");
            if (p != null && p.isTextual()) ((ObjectNode) source).put("path", resolve(p.asText()).toString());
        }
        ((ObjectNode) copy.get("output")).put("runs_dir", runsDir().toString());
        try {
            return RecipeLoader.YAML.writeValueAsString(copy);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private void absolute(ObjectNode root, String section, String field) {
        JsonNode value = root.path(section).get(field);
        if (value != null && value.isTextual()) ((ObjectNode) root.get(section)).put(field, resolve(value.asText()).toString());
    }
}
