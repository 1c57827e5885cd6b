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
 * The Jinja2 / Python-isms Hugging Face chat templates use that Jinjava lacks: string methods lstrip / rstrip /
 * strip / startswith / endswith / split / rsplit (rewritten to filters; Jinjava's own split is Java's: a regex that
 * drops trailing empty pieces, so "a</think>".split("</think>")[-1] gave "a", not ""), {@code [::-1]} (to a reverse filter), the
 * {@code raise_exception} function transformers provides, {@code {{-} / {@code -}}} whitespace control on
 * expressions (Jinjava honours it on tags only) and expressions as namespace() arguments (Jinjava binds
 * {@code n=a|length - 1} as {@code (n=a|length) - 1}). Jinjava already handles negative indexes,
 * {@code in} and {@code is defined}.
 */
public final class PythonIsms {
    private static final Pattern METHOD = Pattern.compile("\\.(lstrip|rstrip|strip|startswith|endswith|split|rsplit)\\(");
    private static final Pattern REVERSE = Pattern.compile("\\[\\s*::\\s*-1\\s*]");

    private static final Pattern EXPR_TRIM_LEFT = Pattern.compile("\\s*\\{\\{-");
    /** Jinja2's lstrip_blocks: spaces and tabs from the start of a line to a block or comment tag ({%+ opts out). */
    private static final Pattern LSTRIP_BLOCKS = Pattern.compile("(?m)^[ \\t]+(?=\\{%(?!\\+)|\\{#)");
    private static final Pattern EXPR_TRIM_RIGHT = Pattern.compile("-}}\\s*");

    private PythonIsms() {}

    /** {@code namespace(a=x|length - 1, b=true)} -> {@code namespace(a=(x|length - 1), b=(true))}. */
    static String parenthesizeNamespaceArguments(String template) {
        StringBuilder out = new StringBuilder();
        int at = 0;
        for (int open = template.indexOf("namespace(", at); open >= 0; open = template.indexOf("namespace(", at)) {
            int argsStart = open + "namespace(".length();
            List<String> args = new ArrayList<>();
            int depth = 0;
            int argStart = argsStart;
            int i = argsStart;
            for (; i < template.length(); i++) {
                char c = template.charAt(i);
                if (c == '\'' || c == '"') {
                    int end = closingQuote(template, i);
                    i = end < 0 ? template.length() : end;
                } else if (c == '(' || c == '[' || c == '{') {
                    depth++;
                } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
                    depth--;
                } else if (c == ',' && depth == 0) {
                    args.add(template.substring(argStart, i));
                    argStart = i + 1;
                } else if (c == ')') {
                    break;
                }
            }
            if (i >= template.length()) break; // unbalanced: leave it for Jinjava to report
            args.add(template.substring(argStart, i));
            out.append(template, at, argsStart);
            List<String> wrapped = new ArrayList<>();
            for (String arg : args) {
                int eq = arg.indexOf('=');
                wrapped.add(eq < 0 || arg.isBlank() ? arg : arg.substring(0, eq + 1) + "(" + arg.substring(eq + 1).trim() + ")");
            }
            out.append(String.join(",", wrapped)).append(')');
            at = i + 1;
        }
        return out.append(template.substring(at)).toString();
    }

    /**
     * Rewrites {@code x.lstrip()} to {@code x|py_lstrip}, {@code x.startswith(y)} to {@code x|py_startswith(y)}, {@code x[::-1]} to
     * {@code x|py_reverse}, inside {{ }} and {% %} tags only: the template's own text (a default system prompt that
     * mentions {@code str.split(",")}), comments, raw blocks and string literals stay as written.
     */
    static String rewrite(String template) {
        String out = LSTRIP_BLOCKS.matcher(template).replaceAll("").replace("{%+", "{%");
        out = EXPR_TRIM_LEFT.matcher(out).replaceAll("{{");
        out = EXPR_TRIM_RIGHT.matcher(out).replaceAll("}}");
        return mapTags(out, PythonIsms::rewriteExpression);
    }

    private static final Pattern RAW = Pattern.compile("^[-+]?\\s*raw\\s*-?$");
    private static final Pattern END_RAW = Pattern.compile("\\{%[-+]?\\s*endraw\\s*-?%}");

    /** Applies {@code f} to the inside of each {{ }} / {% %} tag (a closing mark inside quotes does not close it); the rest is copied. */
    static String mapTags(String template, java.util.function.UnaryOperator<String> f) {
        StringBuilder out = new StringBuilder();
        int at = 0;
        while (true) {
            int open = template.indexOf('{', at);
            while (open >= 0 && (open + 1 >= template.length() || "{%#".indexOf(template.charAt(open + 1)) < 0)) open = template.indexOf('{', open + 1);
            if (open < 0) break;
            char kind = template.charAt(open + 1);
            if (kind == '#') { // comment: copied up to its end
                int end = template.indexOf("#}", open + 2);
                if (end < 0) break;
                out.append(template, at, end + 2);
                at = end + 2;
                continue;
            }
            String close = kind == '{' ? "}}" : "%}";
            int end = closeOutsideQuotes(template, open + 2, close);
            if (end < 0) break; // unbalanced: left for Jinjava to report
            String inside = template.substring(open + 2, end);
            if (kind == '%' && RAW.matcher(inside.trim()).matches()) { // {% raw %}…{% endraw %}: copied as is
                Matcher endRaw = END_RAW.matcher(template);
                int stop = endRaw.find(end + 2) ? endRaw.end() : template.length();
                out.append(template, at, stop);
                at = stop;
                continue;
            }
            out.append(template, at, open + 2).append(f.apply(inside)).append(close);
            at = end + 2;
        }
        return out.append(template.substring(at)).toString();
    }

    private static int closeOutsideQuotes(String s, int from, String close) {
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                i = closingQuote(s, i);
                if (i < 0) return -1; // an unterminated string: no close
            } else if (s.startsWith(close, i)) {
                return i;
            }
        }
        return -1;
    }

    /** Whether {@code pos} of an expression lies inside a string literal. */
    private static boolean insideQuotes(String expr, int pos) {
        for (int i = 0; i < pos; i++) {
            char c = expr.charAt(i);
            if (c == '\'' || c == '"') {
                i = closingQuote(expr, i);
                if (i < 0 || i >= pos) return true;
            }
        }
        return false;
    }

    /** Index of the quote that closes the string literal opening at {@code open} (backslash escapes skipped), or -1. */
    private static int closingQuote(String s, int open) {
        for (int i = open + 1; i < s.length(); i++) {
            if (s.charAt(i) == '\\') i++;
            else if (s.charAt(i) == s.charAt(open)) return i;
        }
        return -1;
    }

    private static String rewriteExpression(String expr) {
        String out = parenthesizeNamespaceArguments(expr);
        Matcher r = REVERSE.matcher(out);
        StringBuilder reversed = new StringBuilder();
        while (r.find()) r.appendReplacement(reversed, insideQuotes(out, r.start()) ? Matcher.quoteReplacement(r.group()) : "|py_reverse");
        out = r.appendTail(reversed).toString();
        // x.m(args) -> (x|py_m(args)); the parentheses let a method or index follow, as in a.split(b)[0].rstrip(c).split(d)
        // the search resumes at the rewritten call, so calls inside its arguments (x.startswith(y.lstrip())) follow
        Matcher m = METHOD.matcher(out);
        while (m.find()) {
            if (insideQuotes(out, m.start())) continue;
            int close = matchingClose(out, m.end() - 1);
            if (close < 0) break; // unbalanced: leave it for Jinjava to report
            int start = chainStart(out, m.start());
            String args = out.substring(m.end(), close).trim();
            String call = "(" + out.substring(start, m.start()) + "|py_" + m.group(1) + (args.isEmpty() ? "" : "(" + args + ")") + ")";
            out = out.substring(0, start) + call + out.substring(close + 1);
            m = METHOD.matcher(out);
            m.region(start, out.length());
        }
        return out;
    }

    /** Index of the parenthesis that closes the one at {@code open}, skipping quoted strings (x.rstrip(')')), or -1. */
    private static int matchingClose(String s, int open) {
        int depth = 0;
        for (int i = open; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                i = closingQuote(s, i);
                if (i < 0) return -1;
            } else if (c == '(' || c == '[') {
                depth++;
            } else if ((c == ')' || c == ']') && --depth == 0) {
                return i;
            }
        }
        return -1;
    }

    /** Start of the postfix chain (names, dots, calls, indexes, a string literal) that ends just before {@code end}. */
    private static int chainStart(String s, int end) {
        int i = end - 1;
        while (i >= 0) {
            char c = s.charAt(i);
            if (c == ')' || c == ']') {
                i = matchingOpen(s, i) - 1;
            } else if (c == '\'' || c == '"') {
                i = s.lastIndexOf(c, i - 1) - 1;
            } else if (Character.isLetterOrDigit(c) || c == '_' || c == '.') {
                i--;
            } else {
                break;
            }
        }
        return i + 1;
    }

    private static int matchingOpen(String s, int close) {
        int depth = 0;
        char quote = 0;
        for (int i = close; i >= 0; i--) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == quote) quote = 0;
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == ')' || c == ']') {
                depth++;
            } else if ((c == '(' || c == '[') && --depth == 0) {
                return i;
            }
        }
        return 0;
    }

    /** Python's str.isspace(): Unicode spaces (no-break, ideographic), line and paragraph separators, NEL, \\x1c-\\x1f. */
    public static boolean isPySpace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    /** Python's str.split() without arguments: the runs of non-space characters, empty strings never. */
    public static java.util.List<String> splitOnSpace(String s) {
        java.util.List<String> out = new java.util.ArrayList<>();
        int start = -1;
        for (int i = 0; i <= s.length(); i++) {
            boolean space = i == s.length() || isPySpace(s.charAt(i));
            if (space && start >= 0) {
                out.add(s.substring(start, i));
                start = -1;
            } else if (!space && start < 0) {
                start = i;
            }
        }
        return out;
    }

    static void register(Jinjava jinjava) {
        var filters = jinjava.getGlobalContext();
        filters.registerFilter(new StripFilter("py_lstrip", true, false));
        filters.registerFilter(new StripFilter("py_rstrip", false, true));
        filters.registerFilter(new StripFilter("py_strip", true, true));
        filters.registerFilter(new StripFilter("trim", true, true)); // Jinja2's trim is str.strip; Jinjava's strips all chars <= ' '
        filters.registerFilter(new AffixFilter("py_startswith", true));
        filters.registerFilter(new AffixFilter("py_endswith", false));
        filters.registerFilter(new SplitFilter("py_split", false));
        filters.registerFilter(new SplitFilter("py_rsplit", true));
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
            while (left && from < to && (chars == null ? isPySpace(s.charAt(from)) : chars.indexOf(s.charAt(from)) >= 0)) from++;
            while (right && to > from && (chars == null ? isPySpace(s.charAt(to - 1)) : chars.indexOf(s.charAt(to - 1)) >= 0)) to--;
            return s.substring(from, to);
        }
    }

    /** Python's str.split / str.rsplit: a literal separator keeping empty pieces, or whitespace runs; optional maxsplit. */
    private record SplitFilter(String name, boolean fromRight) implements Filter {
        @Override public String getName() { return name; }

        @Override public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            String s = var == null ? "" : var.toString();
            String sep = args.length > 0 ? args[0] : null; // Jinja's None / an undefined name arrive as null
            int maxSplit = args.length > 1 && args[1] != null ? Integer.parseInt(args[1].trim()) : -1;
            if (sep != null && sep.isEmpty()) throw new DatasetException("the chat template called split('') (empty separator)");
            List<String> pieces = new ArrayList<>();
            if (sep == null) { // runs of whitespace; with maxsplit the unsplit rest keeps its own whitespace, as in Python
                List<int[]> words = new ArrayList<>();
                for (int i = 0; i < s.length(); ) {
                    while (i < s.length() && isPySpace(s.charAt(i))) i++;
                    int start = i;
                    while (i < s.length() && !isPySpace(s.charAt(i))) i++;
                    if (i > start) words.add(new int[] {start, i});
                }
                int n = words.size();
                int keep = maxSplit < 0 || n <= maxSplit ? n : maxSplit;
                if (keep == n) {
                    words.forEach(span -> pieces.add(s.substring(span[0], span[1])));
                } else if (!fromRight) {
                    words.subList(0, keep).forEach(span -> pieces.add(s.substring(span[0], span[1])));
                    pieces.add(s.substring(words.get(keep)[0]));
                } else {
                    pieces.add(s.substring(0, words.get(n - keep - 1)[1]));
                    words.subList(n - keep, n).forEach(span -> pieces.add(s.substring(span[0], span[1])));
                }
                return pieces;
            }
            if (!fromRight) {
                int from = 0;
                for (int at = s.indexOf(sep); at >= 0 && (maxSplit < 0 || pieces.size() < maxSplit); at = s.indexOf(sep, from)) {
                    pieces.add(s.substring(from, at));
                    from = at + sep.length();
                }
                pieces.add(s.substring(from));
                return pieces;
            }
            int to = s.length();
            for (int at = s.lastIndexOf(sep, to - sep.length()); at >= 0 && (maxSplit < 0 || pieces.size() < maxSplit);
                    at = to - sep.length() < 0 ? -1 : s.lastIndexOf(sep, to - sep.length())) {
                pieces.add(0, s.substring(at + sep.length(), to));
                to = at;
            }
            pieces.add(0, s.substring(0, to));
            return pieces;
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
