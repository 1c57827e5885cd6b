package dev.loraworkbench.trainer.device;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The glibc malloc settings ./workbench starts java with (trainer/scripts/malloc.env, which says why): one arena, blocks
 * under 32 MB always from the heap, the heap's top returned only past 1 GiB free, so libtorch's freed CPU tensors are
 * reused instead of page-faulted in again. glibc reads them when the process starts; this only reports what the running
 * JVM got.
 */
public final class MallocSettings {
    /** The variables and the values ./workbench gives them unless they are already set. */
    public static final Map<String, String> WORKBENCH = workbench();

    private MallocSettings() {}

    private static Map<String, String> workbench() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("MALLOC_ARENA_MAX", "1");
        m.put("MALLOC_MMAP_THRESHOLD_", "33554432");
        m.put("MALLOC_TRIM_THRESHOLD_", "1073741824");
        return m;
    }

    /** Whether this process runs with the workbench's values. */
    public static boolean active() {
        return WORKBENCH.entrySet().stream().allMatch(e -> e.getValue().equals(System.getenv(e.getKey())));
    }

    /** One line: what this process got, and what that costs on a CPU when it is not the workbench's. */
    public static String describe() {
        StringBuilder set = new StringBuilder();
        for (String name : WORKBENCH.keySet()) set.append(' ').append(name).append('=').append(System.getenv(name) == null ? "(unset)" : System.getenv(name));
        return (active() ? "glibc as a caching allocator (trainer/scripts/malloc.env):"
                : "NOT the workbench's settings: CPU training page-faults its freed tensor memory back in (slower); start through ./workbench or source trainer/scripts/malloc.env:")
                + set;
    }
}
