package dev.loraworkbench.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.trainer.device.EngineJni;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** User mistakes end with a clear message and a non-zero exit code, never a stack trace. */
class WorkbenchCliTest {
    @TempDir Path dir;

    record Result(int code, String out, String err) {}

    private static Result run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = WorkbenchCli.run(args);
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private static void assertNoStackTrace(Result r) {
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), r.err());
    }

    @Test
    void recipeCheckReportsEveryProblem() throws Exception {
        Path recipe = Files.writeString(dir.resolve("bad.yaml"), "model:\n  path: m\n  revison: main\ntraining:\n  lr: fast\n");
        Result r = run("recipe", "check", recipe.toString());
        assertEquals(2, r.code());
        assertNoStackTrace(r);
        assertTrue(r.err().contains(recipe + ":3: model.revison: unknown field"), r.err());
        assertTrue(r.err().contains(recipe + ":5: training.lr: 'fast' is not valid; expected a number"), r.err());
    }

    @Test
    void helpOfEveryCommandRendersCleanly() {
        for (String cmd : new String[] {"train", "resume", "eval", "plan", "runs", "export", "data", "recipe", "init-model", "logits", "generate", "chat", "bench", "doctor", "notebook"}) {
            Result r = run(cmd, "--help");
            assertEquals(0, r.code(), cmd);
            assertFalse(r.out().contains("WARN") || r.err().contains("WARN"), cmd + ": " + r.out() + r.err());
        }
    }

    /** plan of the flagship for a Spark: the CUDA allocator's lines, and --max-seq's line with a number that fits. */
    @Test
    void planPrintsTheLongestSequenceThatFits() {
        Result r = run("plan", "../recipes/deepseek-r1-distill-qwen-32b-qlora.yaml", "--device", "spark", "--max-seq");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("CUDA context"), r.out());
        var m = java.util.regex.Pattern.compile("max sequence length on spark: (\\d+) tokens").matcher(r.out());
        assertTrue(m.find(), r.out());
        assertTrue(Integer.parseInt(m.group(1)) >= 32_768, m.group());
    }

    /**
     * doctor on this machine (CI: CPU, DJL's bundled natives): versions, the JNI in use and whether it carries the
     * bf16 patch, what each half type can do; a recipe asking for a GPU the engine cannot see is refused with exit 2.
     */
    @Test
    void doctorReportsTheEngineAndRefusesARecipeItCannotRun() throws Exception {
        boolean stock = System.getenv("PYTORCH_LIBRARY_PATH") == null;
        Result r = run("doctor");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("djl       0.36.0") && r.out().contains("libtorch  "), r.out());
        String jni = r.out().lines().filter(l -> l.startsWith("jni ")).findFirst().orElseThrow();
        assertTrue(jni.contains("libdjl_torch.so"), jni);
        if (stock) {
            assertTrue(jni.endsWith("(stock: no bf16)"), jni);
            assertTrue(r.out().contains("fp16      usable on cpu") && r.out().contains("bf16      NOT usable on cpu"), r.out());
        }

        Path gpuRecipe = Files.writeString(dir.resolve("gpu.yaml"), "model: {path: m}\ndataset: {path: d.jsonl}\ndevice: cuda\n");
        if (ai.djl.engine.Engine.getEngine("PyTorch").getGpuCount() == 0) {
            Result refused = run("doctor", gpuRecipe.toString());
            assertEquals(2, refused.code(), refused.out());
            assertTrue(refused.out().contains("NOT usable: device: cuda but the PyTorch engine sees no CUDA device"), refused.out());
        }
        Path cpuRecipe = Files.writeString(dir.resolve("cpu.yaml"), "model: {path: m}\ndataset: {path: d.jsonl}\ndevice: cpu\n");
        Result ok = run("doctor", cpuRecipe.toString());
        assertEquals(0, ok.code(), ok.out());
        assertTrue(ok.out().contains("device cpu -> cpu, compute_dtype fp32: usable"), ok.out());
    }

    @Test
    void theBf16PatchIsRecognisedByItsMessage() throws Exception {
        Path patched = Files.write(dir.resolve("patched.so"), "\0ELF..Unsupported DJL DataType ordinal: \0".getBytes(StandardCharsets.ISO_8859_1));
        Path stock = Files.write(dir.resolve("stock.so"), "\0ELF..\0".getBytes(StandardCharsets.ISO_8859_1));
        assertTrue(EngineJni.isBf16Patched(patched));
        assertFalse(EngineJni.isBf16Patched(stock));
        assertFalse(EngineJni.isBf16Patched(dir.resolve("missing.so")));
    }

    @Test
    void recipeCheckPrintsTheResolvedRecipe() throws Exception {
        Path recipe = Files.writeString(dir.resolve("ok.yaml"), "model: {path: m}\ndataset: {path: d.jsonl}\n");
        Result r = run("recipe", "check", recipe.toString(), "--set", "lora.r=4");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("valid") && r.out().contains("r: 4"), r.out());
    }

    @Test
    void trainWithAMissingDatasetIsAClearError() throws Exception {
        Path recipe = Files.writeString(dir.resolve("r.yaml"),
                "model: {path: " + TinyModelFixture.dir() + "}\ndataset: {path: nope.jsonl}\noutput: {runs_dir: runs}\n");
        Result r = run("train", recipe.toString());
        assertEquals(2, r.code());
        assertNoStackTrace(r);
        assertTrue(r.err().contains(dir.resolve("nope.jsonl") + ": dataset file not found"), r.err());
    }

    /** Trains a tiny run called {@code name} from these recipe lines (the model and output sections added) and returns its directory. */
    private Path trainTiny(String name, String yaml) throws Exception {
        Path recipe = Files.writeString(dir.resolve(name + ".yaml"), "model: {path: " + TinyModelFixture.dir() + "}\n" + yaml
                + "output: {runs_dir: " + dir.resolve("runs") + ", name: " + name + "}\n");
        Result r = run("train", recipe.toString());
        assertEquals(0, r.code(), r.err());
        return dir.resolve("runs").resolve(name);
    }

    @Test
    void trainExportAndCompareLogits() throws Exception {
        Path runDir = trainTiny("run", "dataset: {path: " + TinyModelFixture.sampleData() + ", max_seq_len: 128}\n"
                + "lora: {r: 4, target_modules: [q_proj, v_proj, down_proj]}\ntraining: {max_steps: 3, lr: 1.0e-2}\n");

        Result adapter = run("export", "adapter", runDir.toString(), "--out", dir.resolve("adapter").toString());
        assertEquals(0, adapter.code(), adapter.err());
        Result again = run("export", "adapter", runDir.resolve("checkpoints/step-3").toString(), "--out", dir.resolve("adapter").toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("exists and is not empty; pass --force"), again.err());
        Result zero = run("export", "merged", runDir.toString(), "--out", dir.resolve("zero").toString(), "--shard-size", "0");
        assertEquals(2, zero.code());
        assertTrue(zero.err().contains("--shard-size 0: expected a size above 0"), zero.err());
        assertEquals(0, run("export", "merged", runDir.toString(), "--out", dir.resolve("merged").toString(), "--dtype", "fp32").code());

        String ids = "5,17,99,250,3,42";
        assertEquals(0, run("logits", "--model", TinyModelFixture.dir().toString(), "--adapter", dir.resolve("adapter").toString(),
                "--ids", ids, "--out", dir.resolve("a.safetensors").toString()).code());
        assertEquals(0, run("logits", "--model", dir.resolve("merged").toString(), "--ids", ids, "--out", dir.resolve("m.safetensors").toString()).code());
        assertEquals(0, run("logits", "--model", TinyModelFixture.dir().toString(), "--ids", ids, "--out", dir.resolve("b.safetensors").toString()).code());
        float[] withAdapter, merged, base;
        try (var a = SafetensorsFile.open(dir.resolve("a.safetensors")); var m = SafetensorsFile.open(dir.resolve("m.safetensors"));
             var b = SafetensorsFile.open(dir.resolve("b.safetensors"))) {
            withAdapter = a.floats("logits");
            merged = m.floats("logits");
            base = b.floats("logits");
        }
        double worst = 0, moved = 0;
        for (int i = 0; i < merged.length; i++) {
            worst = Math.max(worst, Math.abs(merged[i] - withAdapter[i]));
            moved = Math.max(moved, Math.abs(base[i] - withAdapter[i]));
        }
        assertTrue(moved > 1e-3, "the trained adapter changes the logits: " + moved);
        assertTrue(worst < 1e-4, "merged == base + adapter: " + worst);
    }

    /** export gguf takes q4_k_m (llama-quantize's mix); a type it does not build is named with the ones it does. */
    @Test
    void exportGgufTakesQ4KMAndNamesTheTypesItBuilds() {
        Result q4km = run("export", "gguf", TinyModelFixture.dir().toString(), "--out", dir.resolve("m.gguf").toString(), "--type", "q4_k_m");
        assertEquals(0, q4km.code(), q4km.err());
        assertTrue(q4km.out().contains("q4_k_m") && Files.isRegularFile(dir.resolve("m.gguf")), q4km.out());
        Result q5km = run("export", "gguf", TinyModelFixture.dir().toString(), "--out", dir.resolve("n.gguf").toString(), "--type", "q5_k_m");
        assertEquals(2, q5km.code());
        assertNoStackTrace(q5km);
        assertTrue(q5km.err().contains("--type q5_k_m: expected f16, bf16, f32, q8_0, q4_0 or q4_k_m"), q5km.err());
    }

    /** `eval` scores the base and the adapter on the run's eval split: its losses are the run's own step-0 and final eval losses. */
    @Test
    void evalComparesBaseAndAdapterOnTheRunsEvalSplit() throws Exception {
        Path runDir = trainTiny("e", "dataset: {path: " + TinyModelFixture.sampleData() + ", max_seq_len: 128, eval_fraction: 0.1}\n"
                + "lora: {r: 4}\ntraining: {max_steps: 4, micro_batch_size: 8, lr: 1.0e-2}\neval: {max_new_tokens: 6}\n");

        Result table = run("eval", runDir.toString());
        assertEquals(0, table.code(), table.err());
        var lines = table.out().lines().toList();
        assertEquals(java.util.List.of("metric", "base", "adapter", "delta"), java.util.List.of(lines.get(0).trim().split("\\s+")));
        assertEquals(java.util.List.of("exact_match", "token_f1", "rouge_l", "loss", "perplexity"),
                lines.subList(1, lines.size()).stream().map(l -> l.split("\\s+")[0]).toList());

        Result json = run("eval", runDir.toString(), "--json");
        assertEquals(0, json.code(), json.err());
        var metrics = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json.out()).get("metrics");
        var events = dev.loraworkbench.trainer.events.TfEvents.scalars(runDir).get("eval/loss");
        assertEquals(events.get(0).value(), metrics.get("loss").get("base").asDouble(), 1e-5, "base = the run's step-0 eval loss");
        assertEquals(events.get(events.size() - 1).value(), metrics.get("loss").get("adapter").asDouble(), 1e-5, "adapter = the final eval loss");
        assertEquals(metrics.get("loss").get("adapter").asDouble() - metrics.get("loss").get("base").asDouble(),
                metrics.get("loss").get("delta").asDouble(), 1e-9);
        assertTrue(metrics.get("loss").get("delta").asDouble() < 0, "training lowered the eval loss: " + metrics);

        Path out = dir.resolve("answers.jsonl");
        Result some = run("eval", runDir.toString(), "--no-base", "--samples", "3", "--out", out.toString());
        assertEquals(0, some.code(), some.err());
        assertTrue(some.out().lines().skip(1).allMatch(l -> l.split("\\s+")[1].equals("-")), "no base column: " + some.out());
        var answers = Files.readAllLines(out);
        assertEquals(3, answers.size());
        var first = new com.fasterxml.jackson.databind.ObjectMapper().readTree(answers.get(0));
        assertTrue(first.has("question") && first.has("reference") && first.has("adapter") && first.has("adapter_scores") && !first.has("base"), answers.get(0));

        Result nothing = run("eval");
        assertEquals(2, nothing.code());
        assertNoStackTrace(nothing);
        assertTrue(nothing.err().contains("give a run (runs/<name>) or an adapter to evaluate"), nothing.err());
        Result export = run("export", "adapter", runDir.toString(), "--out", dir.resolve("bare").toString());
        assertEquals(0, export.code(), export.err());
        assertTrue(export.out().startsWith("taking the run's best adapter: eval/loss "), "export says which adapter it takes: " + export.out());
        Path inProgress = Files.createDirectories(runDir.resolve("checkpoints/.step-9.tmp-1")); // as a training still writing would have
        Result lastStep = run("export", "adapter", runDir.toString(), "--last", "--out", dir.resolve("last").toString());
        assertTrue(Files.isDirectory(inProgress), "export only reads a run: another process's checkpoint in progress stays");
        assertTrue(lastStep.out().startsWith("taking the last step's adapter: step-4"), lastStep.out());
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(runDir.resolve("checkpoints/step-4/adapter_model.safetensors")),
                Files.readAllBytes(dir.resolve("last/adapter_model.safetensors"))));
        Result bare = run("eval", dir.resolve("bare").toString(), "--model", TinyModelFixture.dir().toString());
        assertEquals(2, bare.code());
        assertTrue(bare.err().contains("--data FILE is required"), bare.err());
    }

    /** Mistakes found by trying to break it: each names what is wrong, before any work, without a stack trace. */
    @Test
    void mistakesNameWhatIsWrongBeforeAnyWork() throws Exception {
        Path aDir = Files.createDirectories(dir.resolve("some-dir"));
        Result logits = run("logits", "--model", TinyModelFixture.dir().toString(), "--ids", "1,2", "--out", aDir.toString());
        assertEquals(2, logits.code());
        assertTrue(logits.err().contains("--out " + aDir + " is a directory; give a file name, e.g. " + aDir.resolve("logits.safetensors")), logits.err());
        Result plot = run("runs", "plot", aDir.toString(), "--out", aDir.toString());
        assertEquals(2, plot.code());
        assertTrue(plot.err().contains("is a directory; give a file name"), plot.err());
        Result adapter = run("generate", "--adapter", dir.resolve("runs/no-such-run").toString(), "--prompt", "x");
        assertEquals(2, adapter.code());
        assertTrue(adapter.err().contains(dir.resolve("runs/no-such-run") + " does not exist"), adapter.err());
        Result recipeDir = run("train", aDir.toString());
        assertEquals(2, recipeDir.code());
        assertTrue(recipeDir.err().contains(aDir + ": is a directory; give the recipe's YAML file"), recipeDir.err());
        for (Result r : new Result[] {logits, plot, adapter, recipeDir}) assertNoStackTrace(r);
    }

    @Test
    void runsListAndCompare() throws Exception {
        Path recipe = Files.writeString(dir.resolve("r.yaml"), "model: {path: " + TinyModelFixture.dir() + "}\n"
                + "dataset: {path: " + TinyModelFixture.sampleData() + ", max_seq_len: 96, eval_fraction: 0.1}\n"
                + "lora: {r: 4}\ntraining: {max_steps: 2}\noutput: {runs_dir: " + dir.resolve("runs") + "}\n");
        assertEquals(0, run("train", recipe.toString(), "--set", "output.name=small").code());
        assertEquals(0, run("train", recipe.toString(), "--set", "output.name=big", "--set", "lora.r=8", "--set", "training.lr=1e-3").code());
        // a run whose process vanished (kill -9) still says running in run.json
        Path ghost = Files.createDirectories(dir.resolve("runs/ghost"));
        Files.copy(dir.resolve("runs/small/recipe.yaml"), ghost.resolve("recipe.yaml"));
        Files.writeString(ghost.resolve("run.json"), Files.readString(dir.resolve("runs/small/run.json"))
                .replace("\"finished\"", "\"running\"").replaceAll("\"pid\" : \\d+", "\"pid\" : 999999999"));

        Result list = run("runs", "list", "--runs-dir", dir.resolve("runs").toString());
        assertEquals(0, list.code(), list.err());
        String[] lines = list.out().split("\n");
        assertEquals(4, lines.length, list.out());
        assertTrue(lines[0].startsWith("name") && lines[0].contains("best_eval_loss"), lines[0]);
        assertTrue(lines[1].startsWith("big ") && lines[1].contains("finished") && lines[1].contains("2/2") && lines[1].contains("1.00e-03"), lines[1]);
        assertTrue(lines[2].startsWith("ghost ") && lines[2].contains("interrupted"), lines[2]);

        Result compare = run("runs", "compare", dir.resolve("runs/small").toString(), dir.resolve("runs/big").toString(), "--csv");
        assertEquals(0, compare.code(), compare.err());
        assertTrue(compare.out().startsWith("field,small,big"), compare.out());
        assertTrue(compare.out().contains("lora.r,4,8"), compare.out());
        assertTrue(compare.out().contains("training.lr,2.0E-4,0.001") || compare.out().contains("training.lr,0.0002,0.001"), compare.out());
        assertTrue(compare.out().contains("status,finished,finished"), compare.out());
        assertFalse(compare.out().contains("lora.alpha"), "only differences are listed");
    }

    @Test
    void dataCheckListsEveryProblemWithItsLine() throws Exception {
        Path data = Files.writeString(dir.resolve("qa.jsonl"), "{\"question\": \"What is LoRA?\", \"answer\": \"Low-rank adapters.\"}\n"
                + "{\"question\": \"q\"}\n"
                + "{\"question\": \"What is LoRA?\", \"answer\": \"Low-rank adapters.\"}\n"
                + "{\"question\": \"" + "Explain the training loop in detail please. ".repeat(20) + "\", \"answer\": \"It loops.\"}\n");
        Path recipe = Files.writeString(dir.resolve("r.yaml"), "model: {path: " + TinyModelFixture.dir() + "}\n"
                + "dataset: {path: qa.jsonl, max_seq_len: 64, truncation: error}\n");
        Result r = run("data", "check", recipe.toString());
        assertEquals(2, r.code(), r.out() + r.err());
        assertNoStackTrace(r);
        assertTrue(r.out().contains("error: " + data + ":2: field 'answer' is missing"), r.out());
        assertTrue(r.out().contains("warning: " + data + ":3: exact duplicate of " + data + ":1"), r.out());
        assertTrue(r.out().contains("error: " + data + ":4: ") && r.out().contains("more than max_seq_len 64"), r.out());
        assertTrue(r.out().contains("3 examples, 2 error(s), 1 warning(s); read as qa (3)"), r.out());

        Result clean = run("data", "check", TinyModelFixture.sampleData().toString());
        assertEquals(0, clean.code(), clean.out());
        assertTrue(clean.out().contains("0 error(s), 0 warning(s)"), clean.out());
    }

    @Test
    void dataShowJsonIsWhatTheTrainerFeeds() throws Exception {
        Path recipe = Files.writeString(dir.resolve("r.yaml"), "model: {path: " + TinyModelFixture.dir() + "}\n"
                + "dataset: {path: " + TinyModelFixture.sampleData() + ", max_seq_len: 64, eval_fraction: 0.1}\n");
        Result r = run("data", "show", recipe.toString(), "--n", "4", "--json");
        assertEquals(0, r.code(), r.err());
        var loaded = dev.loraworkbench.trainer.recipe.RecipeLoader.load(recipe, java.util.List.of());
        try (var tokenizer = dev.loraworkbench.datasets.TokenizerFiles.load(TinyModelFixture.dir())) {
            var train = dev.loraworkbench.trainer.train.TrainingData.load(loaded, tokenizer).train();
            var lines = r.out().lines().toList();
            assertEquals(4, lines.size());
            var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
            for (int i = 0; i < 4; i++) {
                var o = mapper.readTree(lines.get(i));
                assertEquals(i, o.get("index").asInt());
                assertEquals(java.util.Arrays.toString(train.get(i).ids()), o.get("ids").toString().replace(",", ", "));
                assertEquals(java.util.Arrays.toString(train.get(i).labels()), o.get("labels").toString().replace(",", ", "));
                assertTrue(o.get("text").asText().startsWith("<|im_start|>user\n"), o.get("text").asText());
            }
        }
        // long enough that the example is whole, so its trained span ends with the end-of-turn token
        Result text = run("data", "show", recipe.toString(), "--split", "eval", "--index", "0", "--set", "dataset.max_seq_len=512");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("<|im_start|>assistant\n[[") && text.out().contains("<|im_end|>]]\n"), text.out());
        assertTrue(text.out().contains("tokens: ") && text.out().contains("truncated: "), text.out());
        Result bad = run("data", "show", recipe.toString(), "--index", "100000");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--index 100000: the train split has"), bad.err());
    }

    @Test
    void dataSplitWritesTrainEvalAndAReport() throws Exception {
        Result r = run("data", "split", "--in", TinyModelFixture.sampleData().toString(), "--eval-fraction", "0.1", "--out", dir.resolve("split").toString());
        assertEquals(0, r.code(), r.err());
        long train = Files.readAllLines(dir.resolve("split/train.jsonl")).size();
        long eval = Files.readAllLines(dir.resolve("split/eval.jsonl")).size();
        assertEquals(Files.readAllLines(TinyModelFixture.sampleData()).size(), train + eval);
        assertTrue(eval > 0 && eval < train, eval + " eval");
        assertTrue(Files.readString(dir.resolve("split/split-report.json")).contains("\"closest_train_eval_similarity\""));
        Result bad = run("data", "split", "--in", TinyModelFixture.sampleData().toString(), "--eval-fraction", "1.5", "--out", dir.toString());
        assertEquals(2, bad.code());
    }

    @Test
    void logitsCommandWritesFloatLogits() throws Exception {
        Path out = dir.resolve("logits.safetensors");
        Result r = run("logits", "--model", TinyModelFixture.dir().toString(), "--ids", "1,2,3", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            assertEquals(3, f.info("logits").shape()[0]);
        }
        Result bad = run("logits", "--model", TinyModelFixture.dir().toString(), "--ids", "1,999999", "--out", out.toString());
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("token id 999999 is outside the vocabulary"), bad.err());
        Result noModel = run("logits", "--model", dir.resolve("none").toString(), "--ids", "1", "--out", out.toString());
        assertEquals(2, noModel.code());
        assertNoStackTrace(noModel);
    }

    @Test
    void generateAndChatAnswerWithTheChatTemplateAndReportSpeed() throws Exception {
        String model = TinyModelFixture.dir().toString();
        Result r = run("generate", "--model", model, "--prompt", "What does the trainer do?", "--max-new-tokens", "12");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().matches("(?s).*\\[\\d+ tokens, .*prefill \\d+ ms, [\\d.]+ tokens/s].*"), r.err());
        assertFalse(r.out().contains("<|im_end|>"), "stop and special tokens are not shown: " + r.out());
        Result again = run("generate", "--model", model, "--prompt", "What does the trainer do?", "--max-new-tokens", "12");
        assertEquals(r.out(), again.out(), "greedy decoding is deterministic");

        var oldIn = System.in;
        try {
            System.setIn(new java.io.ByteArrayInputStream("What is a recipe?\n/reset\nAnd LoRA?\n/exit\n".getBytes(StandardCharsets.UTF_8)));
            Result chat = run("chat", "--model", model, "--max-new-tokens", "6");
            assertEquals(0, chat.code(), chat.err());
            assertTrue(chat.err().contains("(conversation cleared)"), chat.err());
            assertEquals(2, chat.err().lines().filter(l -> l.contains("tokens/s]")).count(), chat.err());
        } finally {
            System.setIn(oldIn);
        }

        Result bad = run("generate", "--model", model, "--prompt", "x", "--top-p", "1.5");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--top-p 1.5: expected a value in (0, 1]"), bad.err());
        Result noModel = run("generate", "--prompt", "x");
        assertEquals(2, noModel.code());
        assertTrue(noModel.err().contains("--model DIR is required"), noModel.err());
    }

    /** A base model's tokenizer_config.json has no chat_template: the error says how to give one, and model.chat_template does. */
    @Test
    void baseModelsTakeTheRecipesChatTemplate() throws Exception {
        Path model = Files.createDirectories(dir.resolve("base"));
        Files.copy(TinyModelFixture.dir().resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        var cfg = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(TinyModelFixture.dir().resolve("tokenizer_config.json").toFile());
        cfg.remove("chat_template");
        Files.writeString(model.resolve("tokenizer_config.json"), cfg.toString());
        String base = "model:\n  path: " + model + "\n%sdataset:\n  path: " + TinyModelFixture.sampleData() + "\n";
        Result none = run("data", "show", Files.writeString(dir.resolve("none.yaml"), base.formatted("")).toString(), "--n", "1");
        assertEquals(2, none.code());
        assertTrue(none.err().contains("'chat_template' is missing") && none.err().contains("model.chat_template"), none.err());

        Result chatml = run("data", "show", Files.writeString(dir.resolve("chatml.yaml"), base.formatted("  chat_template: chatml\n")).toString(), "--n", "1");
        assertEquals(0, chatml.code(), chatml.err());
        assertTrue(chatml.out().contains("<|im_start|>user\n") && chatml.out().contains("<|im_end|>]]"), chatml.out());

        Files.writeString(dir.resolve("qa.jinja"), "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<|im_end|>\n{% endfor %}"
                + "{% if add_generation_prompt %}assistant: {% endif %}");
        Result file = run("data", "show", Files.writeString(dir.resolve("file.yaml"), base.formatted("  chat_template: qa.jinja\n")).toString(), "--n", "1");
        assertEquals(0, file.code(), file.err());
        assertTrue(file.out().contains("user: ") && file.out().contains("assistant: [["), file.out());

        Result missing = run("data", "show", Files.writeString(dir.resolve("missing.yaml"), base.formatted("  chat_template: nope.jinja\n")).toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("model.chat_template: cannot read"), missing.err());
        assertNoStackTrace(missing);
    }

    /** generate with a run as --adapter loads the base as that run did (a 32B nf4 run would not fit loaded in fp32). */
    @Test
    void generateTakesTheRunsQuantizationUnlessTold() throws Exception {
        Path recipe = Files.writeString(dir.resolve("q.yaml"), "model: {path: " + TinyModelFixture.dir() + "}\nquantization: fp4\n"
                + "dataset: {path: " + TinyModelFixture.sampleData() + ", max_seq_len: 96}\n"
                + "lora: {r: 2, target_modules: [q_proj]}\ntraining: {max_steps: 1}\noutput: {runs_dir: " + dir.resolve("runs") + ", name: q}\n");
        assertEquals(0, run("train", recipe.toString()).code());
        String runDir = dir.resolve("runs/q").toString();
        Result inherited = run("generate", "--adapter", runDir, "--prompt", "hi", "--max-new-tokens", "2");
        assertEquals(0, inherited.code(), inherited.err());
        assertTrue(inherited.err().contains("(fp4 base, fp32 compute, cpu) + adapter"), inherited.err());
        Result told = run("generate", "--adapter", runDir, "--quantization", "none", "--prompt", "hi", "--max-new-tokens", "2");
        assertTrue(told.err().contains("(fp32 base, fp32 compute, cpu)"), told.err());
    }
}
