package dev.loraworkbench.datasets;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Writes examples as JSONL: {"question","answer"} for a single Q&A pair, {"messages":[...]} otherwise. */
public final class DatasetWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private DatasetWriter() {}

    public static void writeJsonl(Path file, List<Example> examples) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (Example e : examples) {
                List<Message> m = e.messages();
                ObjectNode o = JSON.createObjectNode();
                if (m.size() == 2 && m.get(0).role().equals("user") && m.get(1).role().equals("assistant")) {
                    o.put("question", m.get(0).content());
                    o.put("answer", m.get(1).content());
                } else {
                    var arr = o.putArray("messages");
                    m.forEach(x -> arr.addObject().put("role", x.role()).put("content", x.content()));
                }
                w.write(JSON.writeValueAsString(o));
                w.newLine();
            }
        }
    }
}
