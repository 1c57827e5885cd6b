package dev.loraworkbench.trainer.recipe;

import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Every recipe in recipes/ loads and validates: a typo in a shipped recipe fails the build, not a user's first run. */
class ShippedRecipesTest {
    @Test
    void everyShippedRecipeIsValid() throws Exception {
        List<Path> recipes;
        try (Stream<Path> files = Files.list(Path.of("../recipes"))) {
            recipes = files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
        }
        assertFalse(recipes.size() < 4, "recipes found: " + recipes);
        for (Path recipe : recipes) RecipeLoader.load(recipe, List.of()); // throws RecipeException naming file:line
    }
}
