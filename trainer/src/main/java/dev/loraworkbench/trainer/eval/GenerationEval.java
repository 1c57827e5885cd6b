package dev.loraworkbench.trainer.eval;

import ai.djl.ndarray.NDManager;
import dev.loraworkbench.datasets.ExampleEncoder;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.generate.Generator;
import dev.loraworkbench.trainer.model.Decoder;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Evaluation by generation: greedy answers (KV cache, the model's chat template, batches of left-padded questions) to
 * the eval questions, each scored against its reference after any reasoning ({@code <think>…</think>}) is split off.
 */
public final class GenerationEval {
    private final TokenizerFiles tokenizer;
    private final Set<Integer> stopIds;
    private final int maxNewTokens;
    private final int batchSize;
    private final boolean promptOpensThink;
    /** Each question's prompt, rendered and encoded once: a run asks the same questions at every evaluation. */
    private final java.util.Map<EvalQuestion, int[]> prompts = new java.util.IdentityHashMap<>();

    /** One question's answer and its score; {@code thinkTokens} is the length of its reasoning. */
    public record Answer(EvalQuestion question, String generated, ThinkSplit split, AnswerScore score, int thinkTokens) {}

    /**
     * Mean scores over the answers; {@code thinkTokens} is null unless the model reasons (its prompt opens a think
     * block, or an answer closed one).
     */
    public record Report(List<Answer> answers, double exactMatch, double tokenF1, double rougeL, Double thinkTokens, double seconds) {}

    public GenerationEval(TokenizerFiles tokenizer, Set<Integer> stopIds, int maxNewTokens, int batchSize) {
        this.tokenizer = tokenizer;
        this.stopIds = stopIds;
        this.maxNewTokens = maxNewTokens;
        this.batchSize = batchSize;
        this.promptOpensThink = ExampleEncoder.generationPromptOpensThink(tokenizer);
    }

    /** Answers every question with {@code decoder} (the base model, or the base with an adapter). */
    public Report run(Decoder decoder, NDManager manager, List<EvalQuestion> questions) {
        long t0 = System.nanoTime();
        Generator generator = new Generator(decoder, manager);
        List<Answer> answers = new ArrayList<>();
        for (int from = 0; from < questions.size(); from += batchSize) {
            List<EvalQuestion> batch = questions.subList(from, Math.min(from + batchSize, questions.size()));
            List<int[]> ids = batch.stream().map(this::prompt).toList();
            List<List<Integer>> outputs = generator.greedy(ids, maxNewTokens, stopIds);
            for (int i = 0; i < batch.size(); i++) answers.add(answer(batch.get(i), outputs.get(i)));
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        boolean reasons = promptOpensThink || answers.stream().anyMatch(a -> a.generated().contains("</think>"));
        return new Report(answers, mean(answers, a -> a.score().exactMatch()), mean(answers, a -> a.score().tokenF1()),
                mean(answers, a -> a.score().rougeL()), reasons ? mean(answers, a -> a.thinkTokens()) : null, seconds);
    }

    private int[] prompt(EvalQuestion q) {
        return prompts.computeIfAbsent(q, x -> tokenizer.encode(tokenizer.template().render(x.prompt(), true)));
    }

    Answer answer(EvalQuestion q, List<Integer> tokens) {
        int[] ids = tokens.stream().filter(t -> !stopIds.contains(t)).mapToInt(Integer::intValue).toArray();
        String text = tokenizer.decode(ids, true);
        ThinkSplit split = ThinkSplit.of(text, promptOpensThink);
        String reference = ThinkSplit.of(q.reference(), false).answer(); // a reference with its own reasoning is scored on its answer
        int thinkTokens = split.reasoning().isEmpty() ? 0 : tokenizer.encode(split.reasoning()).length;
        return new Answer(q, text, split, AnswerScore.of(split.answer(), reference), thinkTokens);
    }

    private static double mean(List<Answer> answers, java.util.function.ToDoubleFunction<Answer> f) {
        return answers.isEmpty() ? 0 : answers.stream().mapToDouble(f).average().orElse(0);
    }

    /** The first {@code rows} answers as a markdown table (question | reference | generated), for a TensorBoard TEXT summary. */
    public static String samplesMarkdown(Report report, int rows) {
        StringBuilder sb = new StringBuilder("| question | reference | generated |\n|---|---|---|\n");
        for (Answer a : report.answers().subList(0, Math.min(rows, report.answers().size()))) {
            sb.append("| ").append(cell(a.question().question())).append(" | ").append(cell(a.question().reference())).append(" | ")
                    .append(cell(a.generated())).append(" |\n");
        }
        return sb.toString();
    }

    private static String cell(String text) {
        return text.strip().replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>");
    }
}
