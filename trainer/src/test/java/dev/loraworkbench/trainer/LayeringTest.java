package dev.loraworkbench.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The layering docs/architecture.md draws, checked against the sources: a package may use only packages on a lower
 * floor (imports and fully qualified names alike). Above all, the model does not know LoRA exists.
 */
class LayeringTest {
    /** Floor of each package of dev.loraworkbench.trainer, from the ground up; the same table as docs/architecture.md. */
    static final Map<String, Integer> FLOORS = Map.ofEntries(
            Map.entry("io", 0), Map.entry("tensor", 0), Map.entry("events", 0),
            Map.entry("model", 1),
            Map.entry("quant", 2),
            Map.entry("lora", 3),
            Map.entry("recipe", 4),
            Map.entry("device", 5), Map.entry("runs", 5),
            Map.entry("loader", 6),
            Map.entry("generate", 7), Map.entry("export", 7), Map.entry("plan", 7),
            Map.entry("eval", 8),
            Map.entry("train", 9),
            Map.entry("bench", 10),
            Map.entry("cli", 11));

    private static final Path MAIN = Path.of("src/main/java/dev/loraworkbench/trainer");
    private static final Pattern USE = Pattern.compile("dev\\.loraworkbench\\.trainer\\.([a-z]+)\\.");

    @Test
    void noPackageUsesOneAboveIt() throws IOException {
        List<String> violations = new ArrayList<>();
        TreeSet<String> packages = new TreeSet<>();
        try (Stream<Path> files = Files.walk(MAIN)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                String pkg = MAIN.relativize(file).getName(0).toString();
                packages.add(pkg);
                Integer floor = FLOORS.get(pkg);
                if (floor == null) continue; // reported below
                Matcher m = USE.matcher(Files.readString(file));
                while (m.find()) {
                    String used = m.group(1);
                    if (used.equals(pkg)) continue;
                    Integer usedFloor = FLOORS.get(used);
                    if (usedFloor == null || usedFloor >= floor) violations.add(MAIN.relativize(file) + " (" + pkg + ", floor " + floor + ") uses "
                            + used + " (floor " + usedFloor + ")");
                }
            }
        }
        assertEquals(new TreeSet<>(FLOORS.keySet()), packages, "every package has a floor in FLOORS and docs/architecture.md");
        assertTrue(violations.isEmpty(), String.join("\n", new TreeSet<>(violations)));
    }

    @Test
    void theCheckSeesAnUpwardUse() {
        Matcher m = USE.matcher("import dev.loraworkbench.trainer.lora.LoraAdapter;");
        assertTrue(m.find());
        assertTrue(FLOORS.get(m.group(1)) > FLOORS.get("model"), "model using lora would be reported");
    }
}
