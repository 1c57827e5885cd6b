package dev.loraworkbench.trainer.train;

import ai.djl.engine.Engine;
import dev.loraworkbench.datasets.EncodedExample;
import dev.loraworkbench.datasets.Packing;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.device.ComputeDevice;
import dev.loraworkbench.trainer.device.HalfPrecision;
import dev.loraworkbench.trainer.eval.EvalQuestion;
import dev.loraworkbench.trainer.eval.GenerationEval;
import dev.loraworkbench.trainer.loader.AdapterSource;
import dev.loraworkbench.trainer.loader.LoadedModel;
import dev.loraworkbench.trainer.loader.ModelLoader;
import dev.loraworkbench.trainer.loader.ModelSpec;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.Projection;
import dev.loraworkbench.trainer.model.TinyModels;
import dev.loraworkbench.trainer.recipe.LoadedRecipe;
import dev.loraworkbench.trainer.recipe.Recipe;
import dev.loraworkbench.trainer.runs.RunDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Everything a recipe's training needs, built in order: model directory (created from a preset if
 * asked), tokenizer, data (validated and encoded before any weight loads), the model with a fresh or
 * checkpointed LoRA adapter (through {@link ModelLoader}), AdamW, the step plan and the LR schedule.
 */
public record TrainingSetup(
        Path modelDir,
        TokenizerFiles tokenizer,
        LoadedModel model,
        TrainedWeights trained,
        TrainingData data,
        Trainer trainer,
        AdamW optimizer,
        StepPlan plan,
        LrSchedule schedule,
        Evaluation evaluation) implements AutoCloseable {

    /**
     * What evaluation by generation asks ({@code questions}: the eval split, or eval.samples of it chosen with the seed)
     * and how ({@code generation}); null fields when the recipe scores no generated answers or there is no eval data.
     */
    public record Evaluation(List<EvalQuestion> questions, GenerationEval generation) {}

    public static TrainingSetup open(LoadedRecipe loaded, PrintStream log) throws IOException {
        return open(loaded, log, null);
    }

    /** @param checkpoint a checkpoints/step-N directory to continue from, or null for a fresh adapter */
    public static TrainingSetup open(LoadedRecipe loaded, PrintStream log, Path checkpoint) throws IOException {
        Recipe r = loaded.recipe();
        Recipe.TrainingSection t = r.training();
        Path modelDir = TinyModels.ensure(loaded.modelDir(), r.model().initPreset(), log);
        Engine.getEngine("PyTorch").setRandomSeed(t.seed());
        TokenizerFiles tokenizer = loaded.tokenizer(modelDir);
        LoadedModel model = null;
        try {
            TrainingData data = TrainingData.load(loaded, tokenizer);
            int longest = Stream.concat(data.train().stream(), data.eval().stream()).mapToInt(e -> e.ids().length).max().orElse(0);
            boolean full = t.method() == Recipe.Method.FULL;
            if (full) {
                // the checkpoint of a full-parameter run is itself a model directory: resume loads the weights from there
                model = ModelLoader.load(new ModelSpec(checkpoint != null ? checkpoint : modelDir, null, Recipe.ComputeDtype.FP32, r.device(),
                        new AdapterSource.FullModel(), longest), null);
            } else {
                var settings = new LoraAdapter.LoraSettings(r.lora().r(), r.lora().alpha(), r.lora().dropout(),
                        Projection.expandTargets(r.lora().targetModules()), r.lora().useRslora());
                model = ModelLoader.load(new ModelSpec(modelDir, r.quantization().forLoading(), r.quantization().computeDtype(), r.device(),
                        new AdapterSource.Trainable(settings, t.seed(), checkpoint), longest), null);
            }
            TrainedWeights trained = full ? new TrainedWeights.Full(model.decoder().weights(), modelDir)
                    : new TrainedWeights.Lora(model.adapter(), modelDir);
            AdamW optimizer = new AdamW(trained.parameters(), t.weightDecay(), model.manager(), t.optimizer() == Recipe.Optimizer.ADAMW_8BIT);
            LossScaler scaler = r.quantization().computeDtype() == Recipe.ComputeDtype.FP16 ? new LossScaler() : null;
            if (checkpoint != null) {
                var meta = optimizer.readState(checkpoint.resolve(RunDirectory.OPTIMIZER));
                if (scaler != null) scaler.restore(meta);
            }
            var settingsOfSteps = new Trainer.Settings(tokenizer.padId(), t.maxGradNorm(), t.recomputeLayers(r.quantization().type()), scaler,
                    HalfPrecision.dataType(t.checkpointDtype()));
            Trainer trainer = new Trainer(model.decoder(), optimizer, model.manager(), settingsOfSteps);
            // packed, a micro-batch is micro_batch_size rows of up to max_seq_len tokens, each holding several examples (as in TRL)
            List<EncodedExample> rows = Boolean.TRUE.equals(t.packing()) ? Packing.pack(data.train(), r.dataset().maxSeqLen()) : data.train();
            int total = StepPlan.totalSteps(t.epochs(), t.maxSteps(), rows.size(), t.microBatchSize(), t.gradAccum());
            StepPlan plan = new StepPlan(rows, t.microBatchSize(), t.gradAccum(), t.seed(), total);
            LrSchedule schedule = new LrSchedule(t.lr(), t.schedule(), LrSchedule.warmupSteps(t.warmupSteps(), t.warmupRatio(), total), total);
            Recipe.EvalSection e = r.eval();
            Evaluation evaluation = !e.generates() || data.evalExamples().isEmpty() ? new Evaluation(List.of(), null)
                    : new Evaluation(EvalQuestion.of(data.evalExamples(), e.samples(), t.seed()),
                            new GenerationEval(tokenizer, model.stopIds(tokenizer), e.maxNewTokens(), t.microBatchSize()));
            return new TrainingSetup(modelDir, tokenizer, model, trained, data, trainer, optimizer, plan, schedule, evaluation);
        } catch (RuntimeException e) {
            if (model != null) model.close();
            tokenizer.close();
            throw e;
        }
    }

    public Decoder decoder() { return model.decoder(); }

    /** The adapter being trained (null when the run trains the full model). */
    public LoraAdapter adapter() { return model.adapter(); }

    /** The three lines a run starts with: model and adapter, data, plan. */
    public void describe(LoadedRecipe loaded, PrintStream log) {
        Recipe r = loaded.recipe();
        Recipe.TrainingSection t = r.training();
        var c = model.checkpoint().config();
        var lora = model.adapter();
        long baseParams = model.decoder().weights().parameterCount();
        if (lora == null) {
            log.printf("model    %s (%s, %d layers, hidden %d), %,d params in fp32 on %s; full-parameter training: every weight trained "
                    + "(fp32 weights and gradients, AdamW moments in %s)%n", modelDir, c.modelType(), c.numLayers(), c.hiddenSize(), baseParams,
                    ComputeDevice.name(model.manager().getDevice()), t.optimizer() == Recipe.Optimizer.ADAMW_8BIT ? "8 bits" : "fp32");
        } else {
        var q = r.quantization();
        String compute = q.computeDtype() == Recipe.ComputeDtype.FP32 ? "" : ", " + q.computeDtype().name().toLowerCase() + " matmuls"
                + (q.computeDtype() == Recipe.ComputeDtype.FP16 ? " with dynamic loss scaling" : "");
        String storage = (q.forLoading() == null ? (q.computeDtype() == Recipe.ComputeDtype.FP32 ? "fp32" : q.computeDtype().name().toLowerCase())
                : q.type().name().toLowerCase() + (q.doubleQuant() ? " + double quant" : "") + ", blocks of " + q.blockSize()) + compute
                + " on " + ComputeDevice.name(model.manager().getDevice());
        log.printf("model    %s (%s, %d layers, hidden %d), %,d params in %s; LoRA r=%d on %s: %,d trainable (%.2f%%), %s%n",
                modelDir, c.modelType(), c.numLayers(), c.hiddenSize(), baseParams, storage, lora.settings().r(),
                String.join(",", lora.settings().targetModules()), lora.parameterCount(), 100.0 * lora.parameterCount() / baseParams, optimizer.kind());
        }
        log.printf("data     %d train / %d eval examples, %,d tokens per epoch%s%n", data.train().size(), data.eval().size(), data.trainTokens(),
                data.truncated() + data.dropped() > 0
                        ? String.format(", %d truncated, %d dropped (max_seq_len %d)", data.truncated(), data.dropped(), r.dataset().maxSeqLen())
                        : "");
        if (data.describesSources()) for (var s : data.sources()) log.println("source   " + s.describe());
        if (r.dataset().reasoning() == dev.loraworkbench.datasets.ReasoningPolicy.TEMPLATE
                && dev.loraworkbench.datasets.ExampleEncoder.generationPromptOpensThink(tokenizer)) {
            log.println("note     this model's generation prompt opens '<think>' but the template trains replies without it; "
                    + "set dataset.reasoning: keep (train '<think>reasoning</think>' + answer, empty when the data has none) or empty");
        }
        if (data.withSystemPrompt() > 0 && dev.loraworkbench.datasets.ExampleEncoder.templateDropsSystemPromptBeforeReplies(tokenizer)) {
            log.printf("note     this model's chat template leaves the system prompt out of a conversation that ends in a reply (it puts it "
                    + "into a final user turn, as Mistral's do): %d training conversations train without theirs, while prompts at inference "
                    + "carry it; to train with it, write it into the first user message instead%n", data.withSystemPrompt());
        }
        if (data.split() != null) {
            var sp = data.split();
            log.printf("split    leakage-aware: %d groups (largest %d) from %d near-duplicate pairs and %d topics; closest train/eval questions %.2f similar%n",
                    sp.groups(), sp.largestGroup(), sp.nearDuplicatePairs(), sp.topics(), sp.closestCrossSimilarity());
        }
        if (Boolean.TRUE.equals(t.packing())) {
            log.printf("packing  %d examples in %d rows of up to %d tokens (%.0f%% full)%n", data.train().size(), plan.examples().size(),
                    r.dataset().maxSeqLen(), 100.0 * data.trainTokens() / ((long) plan.examples().size() * r.dataset().maxSeqLen()));
        }
        log.printf("plan     %d steps (%d per epoch) of %d x %d %s, lr %.2e %s, warmup %d%s%n", plan.totalSteps(), plan.stepsPerEpoch(),
                t.microBatchSize(), t.gradAccum(), Boolean.TRUE.equals(t.packing()) ? "packed rows" : "examples", t.lr(),
                t.schedule().name().toLowerCase(), schedule.warmupSteps(),
                t.recomputeLayers(r.quantization().type()) ? ", layer-wise recomputation" : "");
    }

    @Override
    public void close() {
        model.close();
        tokenizer.close();
    }
}
