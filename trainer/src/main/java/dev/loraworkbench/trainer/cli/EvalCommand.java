package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.eval.AdapterComparison;
import dev.loraworkbench.trainer.eval.EvalQuestion;
import dev.loraworkbench.trainer.eval.GenerationEval;
import dev.loraworkbench.trainer.loader.AdapterSource;
import dev.loraworkbench.trainer.loader.LoadedModel;
import dev.loraworkbench.trainer.loader.ModelLoader;
import dev.loraworkbench.trainer.loader.ModelSpec;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.train.DataViews;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Did the fine-tune work? Greedy answers of the base model and of the adapter to the eval questions, scored against "
                + "the references (exact_match and token_f1 as SQuAD v1.1 scores them, rouge_l), with loss and perplexity: one row per metric.")
final class EvalCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", paramLabel = "RUN_OR_ADAPTER", description = "a run (runs/<name>), one of its checkpoints, or a PEFT adapter (then --model)")
    Path source;

    @Mixin ModelOptions model;

    @Option(names = "--data", paramLabel = "FILE", description = "questions with reference answers (any dataset format; default: the run's eval split)")
    Path data;

    @Option(names = "--no-base", description = "score only the adapter")
    boolean noBase;

    @Option(names = "--samples", paramLabel = "N", description = "score N questions chosen with the seed (default: the run's eval.samples, else all)")
    Integer samples;

    @Option(names = "--max-new-tokens", paramLabel = "N", description = "per answer (default: the run's eval.max_new_tokens, else 64)")
    Integer maxNewTokens;

    @Option(names = "--batch-size", paramLabel = "N", description = "questions answered at once (default: the run's micro_batch_size, else 8)")
    Integer batchSize;

    @Option(names = "--json", description = "the metrics as JSON instead of a table")
    boolean json;

    @Option(names = "--out", paramLabel = "FILE.jsonl", description = "one line per question: question, reference, base and adapter answers and their scores")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (out != null) WorkbenchCli.fileToWrite("--out", out, "answers.jsonl");
        if (source != null && model.adapter != null) throw new WorkbenchCli.UserInputException("give the adapter once: as RUN_OR_ADAPTER or as --adapter");
        if (source != null) model.adapter = source;
        if (model.adapter == null) throw new WorkbenchCli.UserInputException("give a run (runs/<name>) or an adapter to evaluate");
        LoadedRecipe run = model.runRecipe().orElse(null);
        if (data == null && run == null) throw new WorkbenchCli.UserInputException("--data FILE is required: " + model.adapter + " is not a run with an eval split");
        var e = run == null ? null : run.recipe().eval();
        int tokens = maxNewTokens != null ? maxNewTokens : e != null ? e.maxNewTokens() : 64;
        int batch = batchSize != null ? batchSize : run != null ? run.recipe().training().microBatchSize() : 8;
        if (tokens < 1 || batch < 1 || (samples != null && samples < 1)) {
            throw new WorkbenchCli.UserInputException("--max-new-tokens, --batch-size and --samples take whole numbers >= 1");
        }
        long seed = run != null ? run.recipe().training().seed() : 42;
        try (LoadedModel loaded = model.open(); TokenizerFiles tokenizer = model.tokenizer(loaded)) {
            var set = DataViews.evalData(run, data, tokenizer).chosen(samples != null ? samples : e != null ? e.samples() : null, seed);
            var generation = new GenerationEval(tokenizer, loaded.stopIds(tokenizer), tokens, batch);
            var questions = set.examples().stream().map(EvalQuestion::of).toList();
            System.err.printf("eval     %d questions, greedy, up to %d new tokens, %s%n", questions.size(), tokens, noBase ? "adapter only" : "base and adapter");
            AdapterComparison c;
            if (model.fullModel().isPresent()) {
                // a full-parameter run: its model against the model it started from, loaded beside it (both small)
                Path baseDir = run != null ? run.modelDir() : null;
                if (baseDir == null && !noBase) throw new WorkbenchCli.UserInputException(model.adapter + ": no run recipe names the base model; pass --no-base");
                try (LoadedModel base = noBase ? null : ModelLoader.load(new ModelSpec(
                        baseDir, null, model.computeDtype(), model.device(), new AdapterSource.None(), 0), System.err)) {
                    c = AdapterComparison.run(loaded, base, generation, questions, set.encoded(), batch, tokenizer.padId());
                }
            } else {
                c = AdapterComparison.run(loaded, generation, questions, set.encoded(), batch, tokenizer.padId(), !noBase);
            }
            System.out.print(json ? c.json() + "\n" : c.table());
            if (out != null) {
                c.writeJsonl(out);
                System.err.println("wrote " + out);
            }
        }
        return 0;
    }
}
