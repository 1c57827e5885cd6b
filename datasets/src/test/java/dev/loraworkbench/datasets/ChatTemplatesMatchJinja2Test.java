package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The real chat templates rendered by our Jinjava + {@link PythonIsms} equal Jinja2's rendering, set up as
 * transformers' apply_chat_template sets it up (test resource jinja2/render.py, run by Debian's python3 with
 * python3-jinja2, which .ci/run installs). An independent peer for the hand-written strings in RealChatTemplatesTest.
 */
class ChatTemplatesMatchJinja2Test {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path PYTHON = Path.of("/usr/bin/python3");

    private record Case(List<Message> messages, boolean addGenerationPrompt) {}

    private static final List<List<Message>> CONVERSATIONS = List.of(
            List.of(Message.user("What is LoRA?"), Message.assistant("A low-rank adapter.")),
            List.of(Message.system("Be brief."), Message.user("Q1?"), Message.assistant("A1."), Message.user("Q2?"),
                    Message.assistant("<think>\nR2\n</think>\n\nA2.")),
            List.of(Message.user("Q1?"), Message.assistant("<think>\nR1\n</think>\n\nA1."), Message.user("Q2?"), Message.assistant("A2.")),
            // whitespace at the edges, tabs, code, braces that look like Jinja, CJK, emoji, combining marks
            List.of(Message.system("  You review Java.\n"), Message.user("\tWhy does `x = {{ y }}` fail?\n\n```java\nint x = 1;  \n```\n"),
                    Message.assistant("  Because {% raw %} is not Java 🙂 — naïve café, 中文回答。\n")),
            List.of(Message.user("Only a question, waiting for the model.")),
            // roles that do not alternate: Mistral's template raises, the others render
            List.of(Message.user("First."), Message.user("Second, before any answer."), Message.assistant("One answer.")),
            // Windows line ends, a reply that is only reasoning, an empty system prompt, a reasoning block left open
            List.of(Message.system(""), Message.user("line one\r\nline two\r\n"), Message.assistant("<think>\nonly thoughts\n</think>"),
                    Message.user("and?"), Message.assistant("<think>unclosed reasoning, then the answer"))
    );

    private static boolean jinja2Available() {
        try {
            Process p = new ProcessBuilder(PYTHON.toString(), "-c", "import jinja2").redirectErrorStream(true).start();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    @BeforeAll
    static void needsJinja2() {
        assumeTrue(jinja2Available(), PYTHON + " with jinja2 is missing: apt-get install python3-jinja2 (.ci/run installs it)");
    }

    /** Pieces that trip template engines: reasoning tags, template syntax, quotes, escapes, whitespace, non-ASCII. */
    private static final String[] PIECES = {"word", "Answer.", "<think>", "</think>", "\n", "\n\n", " ", "  ", "\t", "{{", "}}", "{%", "%}",
        "{#", "'", "\"", "\\", "|", ".", "::", "é", "中文", "🙂", "<|im_end|>", "None", "true",
        "\u00a0", "\u3000", "\u2028", "\u0085", "\u001f", "\u0001", "\r\n"};

    /** Seeded random conversations: an optional system prompt, then user / assistant turns, ending on either. */
    private static List<List<Message>> randomConversations(int count) {
        Random rnd = new Random(20261126);
        List<List<Message>> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            List<Message> c = new ArrayList<>();
            if (rnd.nextBoolean()) c.add(Message.system(randomText(rnd)));
            int turns = 1 + rnd.nextInt(5);
            for (int t = 0; t < turns; t++) c.add(t % 2 == 0 ? Message.user(randomText(rnd)) : Message.assistant(randomText(rnd)));
            out.add(c);
        }
        return out;
    }

    private static String randomText(Random rnd) {
        StringBuilder b = new StringBuilder();
        for (int n = rnd.nextInt(8); n >= 0; n--) b.append(PIECES[rnd.nextInt(PIECES.length)]);
        return b.toString();
    }

    /** Each conversation as training renders it, and (for those ending in a reply) its prompt as inference renders it. */
    private static List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        List<List<Message>> conversations = new ArrayList<>(CONVERSATIONS);
        conversations.addAll(randomConversations(60));
        for (List<Message> c : conversations) {
            boolean endsWithReply = c.get(c.size() - 1).role().equals("assistant");
            cases.add(new Case(c, !endsWithReply));
            if (endsWithReply) cases.add(new Case(c.subList(0, c.size() - 1), true));
        }
        return cases;
    }

    private static JsonNode renderWithJinja2(Path tokenizerConfig, List<Case> cases, Path tmp) throws Exception {
        Path script = tmp.resolve("render.py");
        try (var in = ChatTemplatesMatchJinja2Test.class.getResourceAsStream("/jinja2/render.py")) {
            Files.write(script, in.readAllBytes());
        }
        ArrayNode request = JSON.createArrayNode();
        for (Case c : cases) {
            ObjectNode o = request.addObject().put("add_generation_prompt", c.addGenerationPrompt());
            ArrayNode msgs = o.putArray("messages");
            c.messages().forEach(m -> msgs.addObject().put("role", m.role()).put("content", m.content()));
        }
        Path in = Files.writeString(tmp.resolve("cases.json"), JSON.writeValueAsString(request));
        Path out = tmp.resolve("out.json");
        Path err = tmp.resolve("err.txt");
        Process p = new ProcessBuilder(PYTHON.toString(), "-X", "utf8", script.toString(), tokenizerConfig.toString())
                .redirectInput(in.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "render.py did not finish");
        assertEquals(0, p.exitValue(), () -> "render.py failed: " + readQuietly(err));
        return JSON.readTree(Files.readString(out, StandardCharsets.UTF_8));
    }

    private static String readQuietly(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }

    @ParameterizedTest
    @MethodSource("dev.loraworkbench.datasets.RealTokenizers#withChatTemplates")
    void rendersExactlyAsJinja2(String name, @org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path dir = RealTokenizers.withChatTemplate(name, tmp);
        List<Case> cases = cases();
        JsonNode expected = renderWithJinja2(dir.resolve("tokenizer_config.json"), cases, tmp);
        assertEquals(cases.size(), expected.size());
        try (TokenizerFiles tok = TokenizerFiles.load(dir)) {
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                String what = name + ", case " + i + " (" + c.messages().size() + " messages, add_generation_prompt " + c.addGenerationPrompt() + ")";
                JsonNode e = expected.get(i);
                if (e.has("error")) {
                    var thrown = assertThrows(DatasetException.class, () -> tok.template().render(c.messages(), c.addGenerationPrompt()), what);
                    assertTrue(thrown.getMessage().contains(e.get("error").asText()), what + ": " + thrown.getMessage() + " vs Jinja2's " + e.get("error"));
                } else {
                    assertEquals(e.get("text").asText(), tok.template().render(c.messages(), c.addGenerationPrompt()), what);
                }
            }
        }
    }
}
