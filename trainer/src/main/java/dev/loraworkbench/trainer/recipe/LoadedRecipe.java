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

    public Path datasetPath() { return resolve(recipe.dataset().path()); }

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
        absolute(copy, "dataset", "path");
        absolute(copy, "dataset", "eval_path");
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
