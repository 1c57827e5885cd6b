package dev.loraworkbench.trainer.eval;

import dev.loraworkbench.datasets.PythonIsms;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * How close a generated answer is to the reference, as the SQuAD v1.1 evaluation script scores it (exact match and
 * token F1 over {@code normalize_answer}: lower case, ASCII punctuation removed, articles a/an/the removed,
 * whitespace collapsed) plus ROUGE-L (the F-measure of the longest common subsequence of tokens, tokenised as
 * Google's rouge_score does without stemming: lower case, runs of [a-z0-9]).
 */
public record AnswerScore(double exactMatch, double tokenF1, double rougeL) {
    /** Python's string.punctuation. */
    private static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    /**
     * SQuAD's re.sub(r'\b(a|an|the)\b', ' ', text) with Python's word characters: letters, numbers and '_' (str.isalnum),
     * not combining marks as Java's Unicode \w has them ("the\u0301" is an article followed by a mark in Python).
     */
    private static final Pattern ARTICLES = Pattern.compile("(?<![\\p{L}\\p{N}_])(a|an|the)(?![\\p{L}\\p{N}_])");
    private static final Pattern NOT_ALNUM = Pattern.compile("[^a-z0-9]+");

    public static AnswerScore of(String generated, String reference) {
        List<String> got = PythonIsms.splitOnSpace(normalize(generated));
        List<String> want = PythonIsms.splitOnSpace(normalize(reference));
        return new AnswerScore(got.equals(want) ? 1 : 0, f1(got, want), rougeL(rougeTokens(generated), rougeTokens(reference)));
    }

    /** SQuAD v1.1's normalize_answer. */
    public static String normalize(String s) {
        String lower = s.toLowerCase(Locale.ROOT);
        StringBuilder noPunct = new StringBuilder(lower.length());
        for (int i = 0; i < lower.length(); i++) {
            char c = lower.charAt(i);
            if (PUNCTUATION.indexOf(c) < 0) noPunct.append(c);
        }
        String noArticles = ARTICLES.matcher(noPunct).replaceAll(" ");
        return String.join(" ", PythonIsms.splitOnSpace(noArticles));
    }

    /** SQuAD's f1_score: overlap of the two bags of tokens (a token counts as often as both sides have it). */
    static double f1(List<String> got, List<String> want) {
        Map<String, Integer> counts = new HashMap<>();
        for (String t : want) counts.merge(t, 1, Integer::sum);
        int same = 0;
        for (String t : got) {
            Integer left = counts.get(t);
            if (left != null && left > 0) {
                same++;
                counts.put(t, left - 1);
            }
        }
        if (same == 0) return 0;
        double precision = (double) same / got.size();
        double recall = (double) same / want.size();
        return 2 * precision * recall / (precision + recall);
    }

    /** rouge_score's default tokenizer without stemming: lower case, non-alphanumerics as separators. */
    static List<String> rougeTokens(String s) {
        return NOT_ALNUM.splitAsStream(s.toLowerCase(Locale.ROOT)).filter(t -> !t.isEmpty()).toList();
    }

    /** ROUGE-L F-measure (beta 1): 2PR / (P + R) with P = LCS / |generated|, R = LCS / |reference|. */
    static double rougeL(List<String> got, List<String> want) {
        if (got.isEmpty() || want.isEmpty()) return 0;
        int[] row = new int[want.size() + 1];
        for (String g : got) {
            int diagonal = 0;
            for (int j = 1; j <= want.size(); j++) {
                int above = row[j];
                row[j] = g.equals(want.get(j - 1)) ? diagonal + 1 : Math.max(row[j], row[j - 1]);
                diagonal = above;
            }
        }
        int lcs = row[want.size()];
        if (lcs == 0) return 0;
        double precision = (double) lcs / got.size();
        double recall = (double) lcs / want.size();
        return 2 * precision * recall / (precision + recall);
    }
}
