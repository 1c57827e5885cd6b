package dev.loraworkbench.trainer.io;

import java.util.HashMap;
import java.util.Map;

/**
 * Fault injection for the kill matrix (tests only): with {@code -Dworkbench.crash-test.halt-at=REGEX} or {@code REGEX#K}
 * the JVM halts, as kill -9 does (no shutdown hook, nothing flushed), the first (or K-th) time a point whose name matches
 * is reached. Points are the renames that make writes durable ({@link AtomicFiles#moveIntoPlace}): {@code write:DIR/FILE}
 * and {@code publish:DIR} just before, {@code written:DIR/FILE} and {@code published:DIR} just after.
 */
public final class CrashPoints {
    static final String PROPERTY = "workbench.crash-test.halt-at";
    private static final Map<String, Integer> SEEN = new HashMap<>();

    private CrashPoints() {}

    static synchronized void reach(String point) {
        String spec = System.getProperty(PROPERTY);
        if (spec == null) return;
        int hash = spec.lastIndexOf('#');
        String pattern = hash < 0 ? spec : spec.substring(0, hash);
        int wanted = hash < 0 ? 1 : Integer.parseInt(spec.substring(hash + 1));
        if (point.matches(pattern) && SEEN.merge(pattern, 1, Integer::sum) == wanted) Runtime.getRuntime().halt(137);
    }
}
