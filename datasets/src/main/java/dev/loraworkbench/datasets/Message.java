package dev.loraworkbench.datasets;

/** One chat turn. Roles follow the OpenAI / Hugging Face convention: system, user, assistant. */
public record Message(String role, String content) {
    public static Message system(String content) { return new Message("system", content); }
    public static Message user(String content) { return new Message("user", content); }
    public static Message assistant(String content) { return new Message("assistant", content); }
}
