package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PythonIsmsTest {
    @TempDir Path dir;

    private static String render(String template, List<Message> messages) {
        return new ChatTemplate(template, Map.of("bos_token", "<s>", "eos_token", "</s>")).render(messages, false);
    }

    @Test
    void methodChainsAfterPythonStringMethodsNamespaceExpressionsAndExpressionWhitespaceControl() {
        List<Message> m = List.of(Message.user("q"), Message.assistant("<think>\n\nwhy\n</think>\n\nbecause"));
        assertEquals("why", render("{{ messages[1].content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}", m));
        assertEquals("|x|", render("{{ '|' + '\\nx\\n'.strip('\\n') + '|' }}", m));
        assertEquals("1", render("{%- set ns = namespace(last=messages|length - 1, flag=true) %}{{ ns.last }}", m));
        assertEquals("(a", render("{{ '(a)'.rstrip(')') }}", m), "a parenthesis inside a quoted argument");
        assertEquals("yes", render("{% if ' ab'.lstrip().startswith(' a'.lstrip()) %}yes{% endif %}", m), "a string method inside another one's arguments");
        assertEquals("ab\n", render("a\n    {{- 'b' }}\n", m), "{{- strips the whitespace before it; the newline after }} stays, as in Jinja2");
    }

    /** Python's split, not Java's (a regex, dropping trailing empty pieces); expected values are what CPython prints. */
    @Test
    void splitAndRsplitFollowPython() {
        List<Message> m = List.of(Message.user("q"));
        assertEquals("[]", render("[{{ 'only thoughts</think>'.split('</think>')[-1] }}]", m), "a trailing separator leaves an empty last piece");
        assertEquals("3", render("{{ 'a.b.c'.split('.')|length }}", m), "the separator is literal, not a regex");
        assertEquals("a|b||c|", render("{{ 'a,b,,c,'.split(',')|join('|') }}", m));
        assertEquals("a|b|c", render("{{ ' a b \t c \n'.split()|join('|') }}", m), "no separator: runs of whitespace, no empty pieces");
        assertEquals("k|v=w", render("{{ 'k=v=w'.split('=', 1)|join('|') }}", m));
        assertEquals("k=v|w", render("{{ 'k=v=w'.rsplit('=', 1)|join('|') }}", m));
        assertEquals("x|y|z", render("{{ 'x::y::z'.rsplit('::')|join('|') }}", m));
        assertEquals("A2.", render("{{ messages[0].content.split('</think>')[-1].lstrip('\\n') }}", List.of(Message.user("<think>r</think>\n\nA2."))));
        // maxsplit on whitespace: the unsplit rest keeps its whitespace; `none` is Jinja's None
        assertEquals("a|b|c  !", render("{{ 'a b c  '.split(none, 2)|join('|') }}!", m));
        assertEquals("a  !", render("{{ '  a  '.split(none, 0)|join('|') }}!", m));
        assertEquals("  a|b|c!", render("{{ '  a b c'.rsplit(none, 2)|join('|') }}!", m));
        assertEquals("a|b", render("{{ messages[0].content.split()|join('|') }}", List.of(Message.user("a\u3000b"))), "an ideographic space is a space");
    }

    /** Python's notion of whitespace (str.strip, Jinja2's trim): Unicode spaces yes, control characters no. */
    @Test
    void stripAndTrimUsePythonWhitespace() {
        List<Message> m = List.of(Message.user("\u3000a\u00a0\u0085"), Message.user("\u0001a\u0001"));
        assertEquals("[a][\u0001a\u0001]", render("{% for x in messages %}[{{ x.content.strip() }}]{% endfor %}", m));
        assertEquals("[a][\u0001a\u0001]", render("{% for x in messages %}[{{ x.content|trim }}]{% endfor %}", m));
    }

    /** Method rewriting touches expressions only: the template's text and string literals stay as written. */
    @Test
    void rewritingLeavesTextAndStringLiteralsAlone() {
        List<Message> m = List.of(Message.user(" q "));
        assertEquals("Use s.split(\",\") and x[::-1]. q", render("Use s.split(\",\") and x[::-1]. {{ messages[0].content.strip() }}", m));
        assertEquals("say 'a.strip()'", render("{{ \"say 'a.strip()'\" }}", m));
        assertEquals("{{ x.strip() }} q", render("{% raw %}{{ x.strip() }}{% endraw %} {{ messages[0].content.strip() }}", m));
        assertEquals(" q", render("{# x.strip() #} {{ messages[0].content.strip() }}", m));
        assertEquals("}} q", render("{{ '}}' + ' ' + messages[0].content.strip() }}", m), "a closing mark inside quotes");
        // an unterminated string is Jinjava's to report, promptly (the tag scanner once looped on it)
        for (String broken : new String[] {"{{ 'abc }}", "{{ x.strip('abc) }}", "{%- set ns = namespace(a='x) %}"}) {
            assertTimeoutPreemptively(java.time.Duration.ofSeconds(10), () -> assertThrows(DatasetException.class, () -> render(broken, m)), broken);
        }
    }

    /** Jinjava would interpret template syntax inside an expression's output; message text must come out as written. */
    @Test
    void messageContentIsPrintedNotInterpreted() {
        String code = "Why is `{{ user.name }}` empty in {% raw %}my {% if x %} Helm chart{% endif %}? {#- not a comment -#}";
        assertEquals("[" + code + "]", render("{% for m in messages %}[{{ m.content }}]{% endfor %}", List.of(Message.user(code))));
        assertEquals("<|im_start|>user\n" + code + "<|im_end|>\n", render(ChatTemplate.CHATML, List.of(Message.user(code))));
    }

    /** transformers renders with trim_blocks and lstrip_blocks: only whitespace from a line's start to a block tag goes. */
    @Test
    void lstripAndTrimBlocksAsJinja2() {
        List<Message> m = List.of(Message.user("q"));
        assertEquals("assistant: |", render("{% if true %}assistant: {% endif %}|", m), "spaces before a tag mid-line stay");
        assertEquals("a\nb|", render("a\n    {% if true %}\nb{% endif %}|", m), "indentation before a tag and the newline after it go");
        assertEquals("a\n  b", render("a\n  {%+ if true %}b{% endif %}", m), "{%+ keeps the indentation");
        assertEquals("x\n  y", render("x\n  {{ 'y' }}", m), "expressions are not blocks");
    }

    @Test
    void stringMethodsSlicingAndRaiseException() {
        List<Message> m = List.of(Message.user("  hi"), Message.assistant("<think>plan</think>\n\nanswer"));
        assertEquals("hi|answer", render("{{ messages[0].content.lstrip() }}|{{ messages[1].content.split('</think>')[-1].lstrip('\\n') }}", m));
        assertEquals("yes|no", render("{% if messages[0]['content'].lstrip().startswith('h') %}yes{% endif %}|"
                + "{% if messages[1].content.endswith('x') %}yes{% else %}no{% endif %}", m));
        assertEquals("assistant", render("{{ (messages[::-1])[0].role }}", m));
        assertEquals("x", render("{{ '--x--'.rstrip('-').lstrip('-') }}", m));
        DatasetException e = assertThrows(DatasetException.class,
                () -> render("{% if messages[0].role != 'system' %}{{ raise_exception('System role first') }}{% endif %}", m));
        assertTrue(e.getMessage().contains("System role first"), e.getMessage());
    }

    /** A DeepSeek-R1-style template (written for this test): namespace, reasoning stripped from replies, "<think>\n" generation prompt. */
    static final String R1_STYLE = """
            {%- set ns = namespace(system_prompt='') -%}
            {%- for message in messages -%}{%- if message['role'] == 'system' -%}{%- set ns.system_prompt = message['content'] -%}{%- endif -%}{%- endfor -%}
            {{ bos_token }}{{ ns.system_prompt }}
            {%- for message in messages -%}
            {%- if message['role'] == 'user' -%}{{ '<|User|>' + message['content'] }}{%- endif -%}
            {%- if message['role'] == 'assistant' -%}
            {%- set content = message['content'] -%}
            {%- if '</think>' in content -%}{%- set content = content.split('</think>')[-1] -%}{%- endif -%}
            {{ '<|Assistant|>' + content + '<|end|>' }}
            {%- endif -%}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{ '<|Assistant|><think>\\n' }}{%- endif -%}
            """;

    @Test
    void r1StyleTemplateTrainsExactlyTheReplyAndItsEndToken() throws Exception {
        TestTokenizers.chatml(dir);
        var cfg = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode()
                .put("bos_token", "<s>").put("eos_token", "<|end|>").put("pad_token", "<|endoftext|>").put("chat_template", R1_STYLE);
        Files.writeString(dir.resolve("tokenizer_config.json"), cfg.toString());
        try (TokenizerFiles tok = TokenizerFiles.load(dir)) {
            var encoder = new ExampleEncoder(tok, 512, TruncationPolicy.ERROR);
            EncodedExample e = encoder.encode(new Example(List.of(Message.system("Be brief."), Message.user("one?"),
                    Message.assistant("<think>\nhmm\n</think>\n\nfirst."), Message.user("two?"), Message.assistant("second.")), "t")).orElseThrow();
            assertEquals("<s>Be brief.<|User|>one?<|Assistant|>\n\nfirst.<|end|><|User|>two?<|Assistant|>second.<|end|>", tok.decode(e.ids()));
            StringBuilder trained = new StringBuilder();
            StringBuilder span = new StringBuilder();
            for (int t = 0; t < e.ids().length; t++) {
                if (e.labels()[t] != EncodedExample.IGNORE) span.append(tok.decode(new int[] {e.ids()[t]}));
                else if (span.length() > 0) { trained.append(span).append('|'); span.setLength(0); }
            }
            trained.append(span);
            assertEquals("\n\nfirst.<|end|>|second.<|end|>", trained.toString());
        }
    }
}
