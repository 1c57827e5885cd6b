package dev.loraworkbench.trainer.recipe;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
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

    /** The recipe with every default filled in, as YAML: what the run actually used. */
    public String resolvedYaml() {
        try {
            return RecipeLoader.YAML.writeValueAsString(resolved);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
