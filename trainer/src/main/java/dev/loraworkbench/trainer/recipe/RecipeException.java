package dev.loraworkbench.trainer.recipe;

import java.util.List;

/** One or more problems in a recipe, each already formatted as "file:line: field: what is wrong; what is expected". */
public class RecipeException extends dev.loraworkbench.datasets.UserError {
    private final List<String> problems;

    public RecipeException(List<String> problems) {
        super(String.join("\n", problems));
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() { return problems; }
}
