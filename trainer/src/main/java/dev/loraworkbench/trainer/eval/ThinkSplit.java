package dev.loraworkbench.trainer.eval;

/**
 * A reasoning model's reply split at its last {@code </think>}: the reasoning before, the answer after (what is scored).
 * A reply without the tag is all answer; one that opened {@code <think>} and never closed it is all reasoning.
 */
public record ThinkSplit(String reasoning, String answer) {
    private static final String OPEN = "<think>";
    private static final String CLOSE = "</think>";

    /** @param promptOpensThink the generation prompt already ends in {@code <think>} (R1 distills), so the reply starts inside it */
    public static ThinkSplit of(String reply, boolean promptOpensThink) {
        int close = reply.lastIndexOf(CLOSE);
        if (close >= 0) {
            String before = reply.substring(0, close);
            int open = before.indexOf(OPEN);
            return new ThinkSplit((open >= 0 ? before.substring(open + OPEN.length()) : before).strip(), reply.substring(close + CLOSE.length()).strip());
        }
        String trimmed = reply.strip();
        if (promptOpensThink || trimmed.startsWith(OPEN)) {
            return new ThinkSplit(trimmed.startsWith(OPEN) ? trimmed.substring(OPEN.length()).strip() : trimmed, "");
        }
        return new ThinkSplit("", trimmed);
    }
}
