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
}
