package dev.loraworkbench.datasets;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The model's own Jinja chat template (from tokenizer_config.json), rendered with Jinjava the way transformers' apply_chat_template does. */
public final class ChatTemplate {
    /** ChatML as Qwen2 models use it (without tool calls or a default system prompt). */
    public static final String CHATML = """
            {%- for message in messages %}
            {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}
            {%- endfor %}
            {%- if add_generation_prompt %}
            {{- '<|im_start|>assistant\\n' }}
            {%- endif %}
            """;

    private final String source;
    private final Map<String, Object> specialTokens;
    private final Jinjava jinjava;

    public ChatTemplate(String source, Map<String, Object> specialTokens) {
        this.source = PythonIsms.rewrite(source);
        this.specialTokens = Map.copyOf(specialTokens);
        // transformers renders with trim_blocks and lstrip_blocks on; Jinjava's lstrip also eats spaces in the middle of
        // a line ("assistant: {% endif %}" lost its space), so PythonIsms applies Jinja2's rule instead
        // Jinjava re-interprets '{{ }}' / '{% %}' found in an expression's output unless told not to: message content
        // (code questions about templates, Helm charts, Vue...) must be printed as it is, as Jinja2 does
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(false)
                .withNestedInterpretationEnabled(false).build());
        PythonIsms.register(jinjava);
    }

    private static DatasetException findCause(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) if (c instanceof DatasetException d) return d;
        return null;
    }

    public String render(List<Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> msgs = new ArrayList<>();
        for (Message m : messages) msgs.add(Map.of("role", m.role(), "content", m.content()));
        Map<String, Object> context = new HashMap<>(specialTokens);
        context.put("messages", msgs);
        context.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result;
        try {
            result = jinjava.renderForResult(source, context);
        } catch (RuntimeException e) {
            DatasetException cause = findCause(e);
            if (cause != null) throw cause;
            throw new DatasetException("chat template failed to render: " + e.getMessage());
        }
        if (!result.getErrors().isEmpty()) {
            var error = result.getErrors().get(0);
            DatasetException raised = findCause(error.getException()); // raise_exception(...) from the template itself
            if (raised != null) throw raised;
            throw new DatasetException("chat template failed to render: " + error.getMessage());
        }
        return result.getOutput();
    }
}
