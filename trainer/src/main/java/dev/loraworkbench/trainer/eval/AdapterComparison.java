package dev.loraworkbench.trainer.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.trainer.io.AtomicFiles;
import dev.loraworkbench.trainer.loader.LoadedModel;
import dev.loraworkbench.trainer.model.Decoder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The base model and the base with the adapter on the same questions: what the fine-tune changed, one row per metric
 * (exact_match, token_f1, rouge_l, think_tokens for reasoning models, loss and perplexity on the references).
 *
 * @param base the base model's evaluation, or null when it was not run
 */
public record AdapterComparison(Side base, Side adapter) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One model's generated answers and teacher-forced loss. */
    public record Side(GenerationEval.Report generation, LossEval.Result loss) {
        double metric(String name) {
            return switch (name) {
                case "exact_match" -> generation.exactMatch();
                case "token_f1" -> generation.tokenF1();
                case "rouge_l" -> generation.rougeL();
                case "think_tokens" -> generation.thinkTokens() == null ? Double.NaN : generation.thinkTokens();
                case "loss" -> loss.loss();
                default -> loss.perplexity();
            };
        }
    }

    /** One row of the table: a metric's value for the base model (NaN when not run), for the adapter, and their difference. */
    public record Row(String metric, double base, double adapter) {
        public double delta() { return adapter - base; }
    }

    /**
     * @param encoded the questions with their references, encoded as training encodes them (for loss and perplexity)
     * @param withBase also evaluate the base model (the adapter unwrapped from the same weights)
     */
    public static AdapterComparison run(LoadedModel model, GenerationEval generation, List<EvalQuestion> questions, List<EncodedExample> encoded,
                                        int batchSize, int padId, boolean withBase) {
        Side adapter = side(model.decoder(), model, generation, questions, encoded, batchSize, padId);
        Side base = withBase ? side(model.baseDecoder(), model, generation, questions, encoded, batchSize, padId) : null;
        return new AdapterComparison(base, adapter);
    }

    /** A tuned model against a separately loaded base (a full-parameter run's model and the model it started from). */
    public static AdapterComparison run(LoadedModel tuned, LoadedModel base, GenerationEval generation, List<EvalQuestion> questions,
                                        List<EncodedExample> encoded, int batchSize, int padId) {
        Side adapter = side(tuned.decoder(), tuned, generation, questions, encoded, batchSize, padId);
        Side before = base == null ? null : side(base.decoder(), base, generation, questions, encoded, batchSize, padId);
        return new AdapterComparison(before, adapter);
    }

    private static Side side(Decoder decoder, LoadedModel model, GenerationEval generation, List<EvalQuestion> questions,
                             List<EncodedExample> encoded, int batchSize, int padId) {
        return new Side(generation.run(decoder, model.manager(), questions), LossEval.run(decoder, model.manager(), encoded, batchSize, padId));
    }

    public List<Row> rows() {
        List<String> metrics = new ArrayList<>(List.of("exact_match", "token_f1", "rouge_l"));
        if (adapter.generation().thinkTokens() != null || (base != null && base.generation().thinkTokens() != null)) metrics.add("think_tokens");
        metrics.addAll(List.of("loss", "perplexity"));
        return metrics.stream().map(m -> new Row(m, base == null ? Double.NaN : base.metric(m), adapter.metric(m))).toList();
    }

    /** metric  base  adapter  delta, aligned. */
    public String table() {
        StringBuilder sb = new StringBuilder(String.format("%-14s %12s %12s %12s%n", "metric", "base", "adapter", "delta"));
        for (Row r : rows()) {
            sb.append(String.format("%-14s %12s %12s %12s%n", r.metric(), number(r.base()), number(r.adapter()), signed(r.delta())));
        }
        return sb.toString();
    }

    private static String number(double v) {
        return Double.isNaN(v) ? "-" : String.format("%.4f", v);
    }

    private static String signed(double v) {
        return Double.isNaN(v) ? "-" : String.format("%+.4f", v);
    }

    /** {"questions": N, "metrics": {name: {"base", "adapter", "delta"}}}; null where a side was not run. */
    public String json() throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("questions", adapter.generation().answers().size());
        ObjectNode metrics = root.putObject("metrics");
        for (Row r : rows()) {
            ObjectNode m = metrics.putObject(r.metric());
            put(m, "base", r.base());
            put(m, "adapter", r.adapter());
            put(m, "delta", r.delta());
        }
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    }

    /** One line per question: question, reference, base and adapter answers, and each answer's scores. */
    public void writeJsonl(Path file) throws IOException {
        StringBuilder lines = new StringBuilder();
        List<GenerationEval.Answer> answers = adapter.generation().answers();
        for (int i = 0; i < answers.size(); i++) {
            GenerationEval.Answer a = answers.get(i);
            ObjectNode o = JSON.createObjectNode();
            o.put("question", a.question().question());
            o.put("reference", a.question().reference());
            if (base != null) {
                GenerationEval.Answer b = base.generation().answers().get(i);
                o.put("base", b.generated());
                o.set("base_scores", scores(b));
            }
            o.put("adapter", a.generated());
            o.set("adapter_scores", scores(a));
            lines.append(JSON.writeValueAsString(o)).append('\n');
        }
        AtomicFiles.writeString(file, lines.toString());
    }

    private static ObjectNode scores(GenerationEval.Answer a) {
        ObjectNode s = JSON.createObjectNode();
        s.put("exact_match", a.score().exactMatch());
        s.put("token_f1", a.score().tokenF1());
        s.put("rouge_l", a.score().rougeL());
        if (a.thinkTokens() > 0) s.put("think_tokens", a.thinkTokens());
        return s;
    }

    private static void put(ObjectNode o, String field, double v) {
        if (Double.isNaN(v)) o.putNull(field);
        else o.put(field, v);
    }

}
