package dev.loraworkbench.datasets;

import java.util.List;

/**
 * One training example as a conversation. Q&A pairs become [user, assistant]; every assistant
 * turn is a completion that carries loss. {@code source} says where it came from, for error messages.
 */
public record Example(List<Message> messages, String source) {
    public Example {
        messages = List.copyOf(messages);
    }

    /** 64-bit FNV-1a over roles and contents: equal conversations, equal hash; lets duplicate checks stream. */
    public long contentHash() {
        long h = 0xcbf29ce484222325L;
        for (Message m : messages) {
            for (String part : new String[] {m.role(), "\u0000", m.content(), "\u0001"}) {
                for (int i = 0; i < part.length(); i++) {
                    h ^= part.charAt(i);
                    h *= 0x100000001b3L;
                }
            }
        }
        return h;
    }
}
