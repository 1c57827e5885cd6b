package dev.loraworkbench.trainer.recipe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Checks a YAML tree against the {@link Recipe} records: unknown fields (with the nearest valid name) and wrong types. */
final class RecipeSchema {
    private static final PropertyNamingStrategies.SnakeCaseStrategy SNAKE = new PropertyNamingStrategies.SnakeCaseStrategy();

    /** Names users bring from TRL / transformers / Axolotl / PEFT, mapped to ours, so "did you mean" can bridge them. */
    private static final Map<String, String> ALIASES = Map.ofEntries(
            Map.entry("learning_rate", "lr"), Map.entry("lr_scheduler_type", "schedule"), Map.entry("lr_scheduler", "schedule"),
            Map.entry("rank", "r"), Map.entry("lora_r", "r"), Map.entry("lora_alpha", "alpha"), Map.entry("lora_dropout", "dropout"),
            Map.entry("lora_target_modules", "target_modules"), Map.entry("batch_size", "micro_batch_size"),
            Map.entry("per_device_train_batch_size", "micro_batch_size"), Map.entry("gradient_accumulation_steps", "grad_accum"),
            Map.entry("num_epochs", "epochs"), Map.entry("num_train_epochs", "epochs"), Map.entry("logging_steps", "log_every"),
            Map.entry("eval_steps", "eval_every"), Map.entry("save_steps", "save_every"), Map.entry("sequence_len", "max_seq_len"),
            Map.entry("max_length", "max_seq_len"), Map.entry("max_seq_length", "max_seq_len"), Map.entry("output_dir", "runs_dir"),
            Map.entry("val_set_size", "eval_fraction"), Map.entry("model_name_or_path", "path"), Map.entry("base_model", "path"),
            Map.entry("optim", "optimizer"));

    private RecipeSchema() {}

    static void check(JsonNode node, Class<?> recordType, String path, RecipeLoader.Locator at, List<String> problems) {
        Map<String, RecordComponent> fields = fields(recordType);
        if (!node.isObject()) {
            problems.add(at.at(path, "expected a section with fields " + fields.keySet() + ", found " + describe(node)));
            return;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            var entry = it.next();
            String name = entry.getKey();
            String fieldPath = path.isEmpty() ? name : path + "." + name;
            RecordComponent component = fields.get(name);
            if (component == null) {
                String near = nearestField(name, fields.keySet());
                problems.add(at.at(fieldPath, "unknown field" + (near == null ? "" : "; did you mean '" + near + "'?")
                        + " (valid fields: " + String.join(", ", fields.keySet()) + ")"));
                continue;
            }
            checkValue(entry.getValue(), component.getGenericType(), fieldPath, at, problems);
        }
    }

    static Map<String, RecordComponent> fields(Class<?> recordType) {
        Map<String, RecordComponent> fields = new LinkedHashMap<>();
        for (RecordComponent c : recordType.getRecordComponents()) fields.put(SNAKE.translate(c.getName()), c);
        return fields;
    }

    /** Type of the field at a dotted path, or null if there is no such field. */
    static Type typeAt(String dottedPath) {
        Type type = Recipe.class;
        for (String part : dottedPath.split("\\.")) {
            if (!(type instanceof Class<?> c) || !c.isRecord()) return null;
            RecordComponent rc = fields(c).get(part);
            if (rc == null) return null;
            type = rc.getGenericType();
        }
        return type;
    }

    private static void checkValue(JsonNode value, Type type, String path, RecipeLoader.Locator at, List<String> problems) {
        if (value.isNull()) return; // null means "use the default"
        if (type instanceof Class<?> c && c.isRecord()) {
            check(value, c, path, at, problems);
        } else if (type == Integer.class) {
            if (value.isIntegralNumber() && !value.canConvertToInt()) {
                problems.add(at.at(path, describe(value) + " is out of range; expected a whole number up to " + Integer.MAX_VALUE));
            } else if (!value.isIntegralNumber()) {
                problems.add(at.at(path, describe(value) + " is not valid; expected a whole number"));
            }
        } else if (type == Double.class) {
            if (!value.isNumber()) problems.add(at.at(path, describe(value) + " is not valid; expected a number"));
        } else if (type == Boolean.class) {
            if (!value.isBoolean()) problems.add(at.at(path, describe(value) + " is not valid; expected true or false"));
        } else if (type == String.class) {
            if (!value.isTextual()) problems.add(at.at(path, describe(value) + " is not valid; expected a string"));
        } else if (type instanceof Class<?> c && c.isEnum()) {
            List<String> names = Arrays.stream(c.getEnumConstants()).map(e -> ((Enum<?>) e).name().toLowerCase(Locale.ROOT)).toList();
            if (!value.isTextual() || !names.contains(value.asText().toLowerCase(Locale.ROOT))) {
                String near = value.isTextual() ? nearest(value.asText().toLowerCase(Locale.ROOT), names) : null;
                problems.add(at.at(path, describe(value) + " is not valid; expected one of " + String.join(" | ", names)
                        + (near == null ? "" : " (did you mean '" + near + "'?)")));
            }
        } else if (type instanceof ParameterizedType pt && pt.getRawType() == List.class
                && pt.getActualTypeArguments()[0] instanceof Class<?> element && element.isRecord()) {
            if (!value.isArray()) {
                problems.add(at.at(path, describe(value) + " is not valid; expected a list of entries, each a mapping with fields "
                        + fields(element).keySet()));
                return;
            }
            for (int i = 0; i < value.size(); i++) check(value.get(i), element, path + "." + i, at, problems);
        } else if (type instanceof ParameterizedType pt && pt.getRawType() == List.class) {
            boolean ok = value.isTextual() || (value.isArray() && allTextual(value));
            if (!ok) problems.add(at.at(path, describe(value) + " is not valid; expected a string or a list of strings"));
        } else {
            throw new IllegalStateException("recipe schema has no check for " + type);
        }
    }

    private static boolean allTextual(JsonNode array) {
        for (JsonNode n : array) if (!n.isTextual()) return false;
        return true;
    }

    static String describe(JsonNode v) {
        if (v.isTextual()) return "'" + v.asText() + "'";
        if (v.isObject()) return "a mapping";
        if (v.isArray()) return "a list";
        return v.toString();
    }

    /** The closest valid field name, also reaching it through a well-known alias ("learning_rat" -> learning_rate -> lr). */
    static String nearestField(String name, java.util.Set<String> valid) {
        List<String> candidates = new ArrayList<>(valid);
        ALIASES.forEach((alias, target) -> { if (valid.contains(target)) candidates.add(alias); });
        String near = nearest(name, candidates);
        return near == null ? null : ALIASES.getOrDefault(near, near);
    }

    /** The closest name by edit distance, if close enough to be a plausible typo. */
    static String nearest(String name, Iterable<String> candidates) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String c : candidates) {
            int d = editDistance(name, c);
            if (d < bestDistance) { best = c; bestDistance = d; }
        }
        if (best == null) return null;
        boolean plausible = bestDistance <= Math.max(2, name.length() / 2) || best.contains(name) || name.contains(best);
        return plausible ? best : null;
    }

    static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev; prev = cur; cur = t;
        }
        return prev[b.length()];
    }

    static List<String> allPaths() {
        List<String> out = new ArrayList<>();
        for (var section : fields(Recipe.class).entrySet()) {
            Class<?> type = section.getValue().getType();
            if (!type.isRecord()) {
                out.add(section.getKey()); // a top-level value such as device
                continue;
            }
            for (String f : fields(type).keySet()) out.add(section.getKey() + "." + f);
        }
        return out;
    }
}
