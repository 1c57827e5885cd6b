package dev.loraworkbench.trainer.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class MallocSettingsTest {
    private static final Path ENV_FILE = Path.of("scripts/malloc.env");

    /** malloc.env's defaults are the values the code reports as the workbench's, and the pom gives the tests the same. */
    @Test
    void oneSetOfValuesInTheFileTheCodeAndThePom() throws Exception {
        Map<String, String> inFile = new LinkedHashMap<>();
        Matcher m = Pattern.compile("export (\\w+)=\"\\$\\{\\1:-([^}]*)}\"").matcher(Files.readString(ENV_FILE));
        while (m.find()) inFile.put(m.group(1), m.group(2));
        assertEquals(MallocSettings.WORKBENCH, inFile);
        assertTrue(MallocSettings.active(), "surefire's environmentVariables (pom.xml) are malloc.env's: " + MallocSettings.describe());
        assertTrue(MallocSettings.describe().startsWith("glibc as a caching allocator"), MallocSettings.describe());
    }

    /** Sourcing the file sets what is unset and keeps what the user set. */
    @Test
    void sourcingSetsDefaultsAndKeepsTheUsersValues() throws Exception {
        assertEquals(MallocSettings.WORKBENCH, mallocVariablesAfterSourcing(Map.of()));
        Map<String, String> expected = new LinkedHashMap<>(MallocSettings.WORKBENCH);
        expected.put("MALLOC_ARENA_MAX", "4");
        assertEquals(expected, mallocVariablesAfterSourcing(Map.of("MALLOC_ARENA_MAX", "4")));
    }

    private static Map<String, String> mallocVariablesAfterSourcing(Map<String, String> preset) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(List.of("/bin/bash", "-c", ". \"$0\" && env", ENV_FILE.toString())).redirectErrorStream(true);
        pb.environment().keySet().removeIf(name -> name.startsWith("MALLOC_"));
        pb.environment().putAll(preset);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        Map<String, String> found = new LinkedHashMap<>();
        for (String name : MallocSettings.WORKBENCH.keySet()) {
            for (String line : out.split("\n")) if (line.startsWith(name + "=")) found.put(name, line.substring(name.length() + 1));
        }
        return found;
    }
}
