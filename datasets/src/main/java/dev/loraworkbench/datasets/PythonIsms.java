package dev.loraworkbench.datasets;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Python-isms Hugging Face chat templates use that Jinjava lacks: string methods lstrip / rstrip /
 * startswith / endswith (rewritten to filters), {@code [::-1]} (to a reverse filter) and the
 * {@code raise_exception} function transformers provides. Jinjava already handles namespace(), split(),
 * negative indexes, {@code in} and {@code is defined}.
 */
final class PythonIsms {
    private static final Pattern METHOD = Pattern.compile("\\.(lstrip|rstrip|startswith|endswith)\\(");
    private static final Pattern REVERSE = Pattern.compile("\\[\\s*::\\s*-1\\s*]");

    private PythonIsms() {}

    /** Rewrites {@code x.lstrip()} to {@code x|py_lstrip}, {@code x.startswith(y)} to {@code x|py_startswith(y)}, {@code x[::-1]} to {@code x|py_reverse}. */
    static String rewrite(String template) {
        String out = REVERSE.matcher(template).replaceAll("|py_reverse");
        StringBuilder sb = new StringBuilder();
        Matcher m = METHOD.matcher(out);
        int at = 0;
        while (m.find()) {
            sb.append(out, at, m.start()).append("|py_").append(m.group(1));
            int close = out.indexOf(')', m.end());
            String args = close < 0 ? "" : out.substring(m.end(), close).trim();
            if (!args.isEmpty()) sb.append('(').append(args).append(')');
            at = close < 0 ? m.end() : close + 1;
        }
        return sb.append(out.substring(at)).toString();
    }

    static void register(Jinjava jinjava) {
        var filters = jinjava.getGlobalContext();
        filters.registerFilter(new StripFilter("py_lstrip", true, false));
        filters.registerFilter(new StripFilter("py_rstrip", false, true));
        filters.registerFilter(new AffixFilter("py_startswith", true));
        filters.registerFilter(new AffixFilter("py_endswith", false));
        filters.registerFilter(new Filter() {
            @Override public String getName() { return "py_reverse"; }

            @Override public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
                if (var instanceof String s) return new StringBuilder(s).reverse().toString();
                if (var instanceof Iterable<?> it) {
                    List<Object> l = new ArrayList<>();
                    it.forEach(l::add);
                    Collections.reverse(l);
                    return l;
                }
                return var;
            }
        });
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", PythonIsms.class, "raiseException", String.class));
    }

    /** transformers' raise_exception: the template rejects the conversation. */
    public static String raiseException(String message) {
        throw new DatasetException("the chat template rejected this conversation: " + message);
    }

    private record StripFilter(String name, boolean left, boolean right) implements Filter {
        @Override public String getName() { return name; }

        @Override public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            if (var == null) return null;
            String s = var.toString();
            String chars = args.length > 0 && args[0] != null ? args[0] : null;
            int from = 0, to = s.length();
            while (left && from < to && (chars == null ? Character.isWhitespace(s.charAt(from)) : chars.indexOf(s.charAt(from)) >= 0)) from++;
            while (right && to > from && (chars == null ? Character.isWhitespace(s.charAt(to - 1)) : chars.indexOf(s.charAt(to - 1)) >= 0)) to--;
            return s.substring(from, to);
        }
    }

    private record AffixFilter(String name, boolean prefix) implements Filter {
        @Override public String getName() { return name; }

        @Override public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            String s = var == null ? "" : var.toString();
            String affix = args.length > 0 && args[0] != null ? args[0] : "";
            return prefix ? s.startsWith(affix) : s.endsWith(affix);
        }
    }
}
