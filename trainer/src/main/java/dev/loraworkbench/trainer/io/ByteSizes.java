package dev.loraworkbench.trainer.io;

import java.util.Locale;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Sizes as people write them: 5GB, 500MB, 1.5G, 300kB, 1024 (decimal units, as Hugging Face's shard sizes are). */
public final class ByteSizes {
    private static final Pattern SIZE = Pattern.compile("(?i)\\s*(\\d+(?:\\.\\d+)?)\\s*([KMG]?B?)\\s*");

    private ByteSizes() {}

    /** The size in bytes, or empty when {@code text} is not a size. */
    public static OptionalLong parse(String text) {
        Matcher m = SIZE.matcher(text);
        if (!m.matches()) return OptionalLong.empty();
        double n = Double.parseDouble(m.group(1));
        String unit = m.group(2).toUpperCase(Locale.ROOT);
        long mult = unit.startsWith("G") ? 1_000_000_000L : unit.startsWith("M") ? 1_000_000L : unit.startsWith("K") ? 1_000L : 1L;
        return OptionalLong.of((long) (n * mult));
    }
}
