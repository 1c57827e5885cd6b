package dev.loraworkbench.trainer;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.loraworkbench.datasets.CsvColumns;
import dev.loraworkbench.datasets.DatasetFormat;
import dev.loraworkbench.datasets.DatasetReader;
import dev.loraworkbench.datasets.Example;
import dev.loraworkbench.datasets.UserError;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import dev.loraworkbench.trainer.model.ModelConfig;
import dev.loraworkbench.trainer.recipe.RecipeLoader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded mutations of the inputs a user hands over (recipe YAML and --set values, JSONL and CSV datasets, config.json,
 * safetensors files), each read by the parser the CLI uses. A read either succeeds or fails with a {@link UserError} whose
 * message names the input (what the CLI prints, without a stack trace); dataset readers report each bad record as
 * "file:line: ...". Anything else fails the test with the seed and the mutated input, to reproduce it. Not covered:
 * tokenizer.json (parsed by the native HF tokenizers library, outside the JVM's exceptions).
 */
@org.junit.jupiter.api.Timeout(value = 60, unit = java.util.concurrent.TimeUnit.MINUTES) // a hang fails instead of stalling CI
class InputFuzzTest {
    /** Cases per parser: 300 in every build, 10,000 with mvn -Plong. */
    private static final int CASES = Integer.getInteger("fuzz.cases", 300);
    private static final String[] VALUES = {"", "-1", "0", "1e309", ".nan", "-.inf", "[", "{", "]", "true", "null", "~", "'open", "\"x",
            "99999999999999999999", "-0.0", "abc", "[1, 2]", "{a: 1}", "&anchor", "*alias", "!!binary AAAA", "\t", "é", "0x10", "1_000",
            "[".repeat(5000) + "]".repeat(5000), "x".repeat(100_000)};
    private static final Path RECIPE = Path.of("../recipes/quickstart.yaml");
    private static final String JSON_CHARS = "{}[]\",:0123456789-eE .tnfu\\";
    private static final Path SAMPLES = Path.of("../datasets/samples/project-qa.jsonl");

    @TempDir
    Path tmp;

    @Test
    void recipes() throws IOException {
        String yaml = Files.readString(RECIPE);
        List<String> fields = List.of("lora.r", "lora.alpha", "lora.dropout", "training.lr", "training.max_steps", "training.epochs",
                "dataset.max_seq_len", "quantization.type", "quantization.compute_dtype", "training.checkpoint_dtype", "eval.metrics",
                "training.packing", "dataset.sources", "no.such.field", "lora");
        int loaded = 0;
        for (int seed = 0; seed < CASES; seed++) {
            Random rnd = new Random(seed);
            String text = mutateText(yaml, rnd);
            List<String> overrides = rnd.nextInt(3) == 0 ? List.of(fields.get(rnd.nextInt(fields.size())) + "=" + VALUES[rnd.nextInt(VALUES.length)]) : List.of();
            try {
                RecipeLoader.parse(text, RECIPE, overrides);
                loaded++;
            } catch (UserError e) {
                requireClear(e, seed, text, "quickstart.yaml", overrides.isEmpty() ? null : "--set");
            } catch (RuntimeException | StackOverflowError e) {
                failWith(seed, text + "\n--set " + overrides, e);
            }
        }
        System.out.printf("recipes: %d of %d mutated recipes loaded, the rest refused with a clear error%n", loaded, CASES);
        assertTrue(loaded > 0 && loaded < CASES, "mutations both pass and fail: " + loaded);
    }

    @Test
    void jsonlDatasets() throws IOException {
        List<String> lines = Files.readAllLines(SAMPLES).subList(0, 30);
        String base = String.join("\n", lines) + "\n";
        fuzzDataset(base.getBytes(StandardCharsets.UTF_8), "data.jsonl", DatasetFormat.AUTO);
    }

    @Test
    void jsonArrayDatasets() throws IOException {
        List<String> lines = Files.readAllLines(SAMPLES).subList(0, 30);
        String base = "[\n" + String.join(",\n", lines) + "\n]\n";
        fuzzDataset(base.getBytes(StandardCharsets.UTF_8), "data.json", DatasetFormat.AUTO);
    }

    @Test
    void tsvDatasets() throws IOException {
        StringBuilder tsv = new StringBuilder("question\tanswer\n");
        for (Example e : DatasetReader.read(SAMPLES, DatasetFormat.AUTO, null, null).subList(0, 30)) {
            tsv.append(e.messages().get(0).content().replace('\t', ' ')).append('\t').append(e.messages().get(1).content().replace('\t', ' ')).append('\n');
        }
        fuzzDataset(tsv.toString().getBytes(StandardCharsets.UTF_8), "data.tsv", DatasetFormat.AUTO);
    }

    @Test
    void csvDatasets() throws IOException {
        StringBuilder csv = new StringBuilder("question,answer\n");
        for (Example e : DatasetReader.read(SAMPLES, DatasetFormat.AUTO, null, null).subList(0, 30)) {
            csv.append(quote(e.messages().get(0).content())).append(',').append(quote(e.messages().get(1).content())).append('\n');
        }
        fuzzDataset(csv.toString().getBytes(StandardCharsets.UTF_8), "data.csv", DatasetFormat.CSV);
    }

    private void fuzzDataset(byte[] base, String name, DatasetFormat format) throws IOException {
        Path file = tmp.resolve(name);
        int clean = 0;
        for (int seed = 0; seed < CASES; seed++) {
            Random rnd = new Random(seed);
            byte[] bytes = rnd.nextBoolean() ? mutateText(new String(base, StandardCharsets.UTF_8), rnd).getBytes(StandardCharsets.UTF_8) : mutateBytes(base, rnd);
            Files.write(file, bytes);
            List<String> problems = new ArrayList<>();
            AtomicInteger examples = new AtomicInteger();
            try {
                DatasetReader.scan(file, format, CsvColumns.DEFAULT, null, new DatasetReader.Sink() {
                    @Override public void example(Example e) { examples.incrementAndGet(); }

                    @Override public void problem(String message) { problems.add(message); }
                });
            } catch (UserError e) {
                requireClear(e, seed, new String(bytes, StandardCharsets.ISO_8859_1), name, null);
                continue;
            } catch (RuntimeException | StackOverflowError e) {
                failWith(seed, new String(bytes, StandardCharsets.ISO_8859_1), e);
            }
            for (String p : problems) {
                if (!p.matches("(?s).*" + java.util.regex.Pattern.quote(name) + ":\\d+: .+")) {
                    fail(name + " seed " + seed + ": a problem without file:line: " + p);
                }
                if (p.contains("Exception") || p.contains("REDACTED")) fail(name + " seed " + seed + ": internals in a problem: " + p);
            }
            if (problems.isEmpty()) clean++;
        }
        System.out.printf("%s: %d of %d mutated files read without a problem, the others reported record by record%n", name, clean, CASES);
        assertTrue(clean < CASES, "some mutations are problems");
    }

    @Test
    void modelConfigs() throws IOException {
        String json = Files.readString(Path.of("src/main/resources/presets/tiny-qwen2/config.json"));
        Path file = tmp.resolve("config.json");
        int loaded = fuzzJson(json, file, CASES, null, () -> ModelConfig.load(file));
        System.out.printf("config.json: %d of %d mutated configs loaded%n", loaded, CASES);
        assertTrue(loaded < CASES);
    }

    /**
     * Mutated JSON values of {@code json} written to {@code file}, each read by {@code read}: it loads, or it is refused with
     * a user error naming the file (or {@code alternative}); the number that loaded.
     */
    private static int fuzzJson(String json, Path file, int cases, String alternative, Runnable read) throws IOException {
        int loaded = 0;
        for (int seed = 0; seed < cases; seed++) {
            String text = mutateJsonValue(json, new Random(seed));
            Files.writeString(file, text);
            try {
                read.run();
                loaded++;
            } catch (UserError e) {
                requireClear(e, seed, text, file.getFileName().toString(), alternative);
            } catch (RuntimeException | StackOverflowError e) {
                failWith(seed, text, e);
            }
        }
        return loaded;
    }

    /** tokenizer_config.json (special tokens, the chat template as Jinja) beside an intact tokenizer.json. */
    @Test
    void tokenizerConfigs() throws IOException {
        Path model = tmp.resolve("tok");
        Files.createDirectories(model);
        Files.copy(dev.loraworkbench.trainer.testing.TinyModelFixture.dir().resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        String json = Files.readString(dev.loraworkbench.trainer.testing.TinyModelFixture.dir().resolve("tokenizer_config.json"));
        int cases = Math.max(50, CASES / 5); // each load also parses tokenizer.json natively
        int loaded = fuzzJson(json, model.resolve("tokenizer_config.json"), cases, "chat_template", () -> {
            try (var t = dev.loraworkbench.datasets.TokenizerFiles.load(model)) {
                t.padId(); // loaded
            }
        });
        System.out.printf("tokenizer_config.json: %d of %d mutated configs loaded%n", loaded, cases);
        assertTrue(loaded < cases);
    }

    /** adapter_config.json of a PEFT adapter read against the tiny model. */
    @Test
    void adapterConfigs() throws IOException {
        Path adapter = tmp.resolve("adapter");
        var config = ModelConfig.load(dev.loraworkbench.trainer.testing.TinyModelFixture.dir().resolve("config.json"));
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager("PyTorch")) {
            var settings = new dev.loraworkbench.trainer.lora.LoraAdapter.LoraSettings(4, 8, 0, List.of("q_proj", "v_proj"), false);
            dev.loraworkbench.trainer.lora.PeftFormat.write(dev.loraworkbench.trainer.lora.LoraAdapter.init(config, settings, m, 1), adapter, "base");
            String json = Files.readString(adapter.resolve("adapter_config.json"));
            int loaded = fuzzJson(json, adapter.resolve("adapter_config.json"), CASES, "adapter", () -> {
                try (ai.djl.ndarray.NDManager scope = m.newSubManager()) {
                    dev.loraworkbench.trainer.lora.PeftFormat.read(adapter, config, scope);
                }
            });
            System.out.printf("adapter_config.json: %d of %d mutated configs loaded%n", loaded, CASES);
            assertTrue(loaded < CASES);
        }
    }

    /** Event files as `runs plot` reads them: a damaged record ends the file's usable part with a warning, never an exception. */
    @Test
    void eventFiles() throws IOException {
        Path run = tmp.resolve("run");
        Files.createDirectories(run);
        Path written;
        try (dev.loraworkbench.trainer.events.EventWriter w = dev.loraworkbench.trainer.events.EventWriter.create(run)) {
            for (int step = 1; step <= 20; step++) w.scalar("train/loss", step, 1.0 / step);
            written = w.file();
        }
        byte[] base = Files.readAllBytes(written);
        int complete = 0;
        java.io.PrintStream err = System.err;
        System.setErr(new java.io.PrintStream(java.io.OutputStream.nullOutputStream())); // the warnings are expected
        try {
            for (int seed = 0; seed < CASES; seed++) {
                Random rnd = new Random(seed);
                Files.write(written, mutateBytes(base, rnd));
                try {
                    var curves = dev.loraworkbench.trainer.events.EventReader.scalars(run);
                    if (curves.getOrDefault("train/loss", List.of()).size() == 20) complete++;
                } catch (IOException | RuntimeException | StackOverflowError e) {
                    failWith(seed, new String(Files.readAllBytes(written), StandardCharsets.ISO_8859_1), e);
                }
            }
        } finally {
            System.setErr(err);
        }
        System.out.printf("event files: %d of %d mutated files still gave all 20 points, the others a shorter curve%n", complete, CASES);
        assertTrue(complete < CASES);
    }

    /** Header bytes flipped, replaced or cut, and files truncated: open and read every tensor, or a clear error. */
    @Test
    void safetensorsFiles() throws IOException {
        Path good = tmp.resolve("good.safetensors");
        new SafetensorsWriter().putF32("a.weight", new long[] {4, 8}, new float[32]).putBf16("b.bias", new long[] {8}, new float[8]).write(good);
        try (SafetensorsFile f = SafetensorsFile.open(good)) {
            assertTrue(f.tensors().size() == 2 && f.floats("a.weight").length == 32, "the unmutated file reads");
        }
        byte[] base = Files.readAllBytes(good);
        java.util.Set<String> reasons = new java.util.TreeSet<>();
        long headerLength = java.nio.ByteBuffer.wrap(base, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        Path file = tmp.resolve("model.safetensors");
        int opened = 0;
        for (int seed = 0; seed < CASES; seed++) {
            Random rnd = new Random(seed);
            byte[] bytes = base.clone();
            switch (rnd.nextInt(4)) {
                case 0 -> bytes[rnd.nextInt((int) (8 + headerLength))] ^= (byte) (1 << rnd.nextInt(8));
                case 1 -> bytes[8 + rnd.nextInt((int) headerLength)] = (byte) JSON_CHARS.charAt(rnd.nextInt(JSON_CHARS.length()));
                case 2 -> bytes = Arrays.copyOf(bytes, rnd.nextInt(bytes.length));
                default -> bytes[rnd.nextInt(8)] = (byte) rnd.nextInt(256);
            }
            Files.write(file, bytes);
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                for (String name : f.tensors().keySet()) f.floats(name);
                opened++;
            } catch (UserError e) {
                requireClear(e, seed, new String(bytes, StandardCharsets.ISO_8859_1), "model.safetensors", null);
                reasons.add(e.getMessage().replaceAll(".*model\\.safetensors: ", "").replaceAll("[0-9]+", "N").replaceAll("\\(.*", ""));
            } catch (RuntimeException | StackOverflowError e) {
                failWith(seed, new String(bytes, StandardCharsets.ISO_8859_1), e);
            }
        }
        System.out.printf("safetensors: %d of %d mutated files opened and read; %d kinds of refusal, e.g. %s%n", opened, CASES, reasons.size(),
                reasons.stream().limit(5).toList());
        assertTrue(opened < CASES);
    }

    /** What the check accepts: a refusal of a bad value names the file it is in. */
    @Test
    void aRefusalNamesTheFile() {
        UserError e = org.junit.jupiter.api.Assertions.assertThrows(UserError.class, () -> RecipeLoader.parse("lora:\n  r: -1\n", RECIPE, List.of()));
        requireClear(e, -1, "lora: r: -1", "quickstart.yaml", null);
    }

    private static void requireClear(UserError e, int seed, String input, String file, String alternative) {
        String m = e.getMessage();
        boolean named = m != null && (m.contains(file) || alternative != null && m.contains(alternative));
        if (!named || m.contains("Exception") || m.contains("REDACTED") || m.contains("\tat ")) {
            fail(file + " seed " + seed + ": unclear refusal: " + m + "\n--- input ---\n" + input);
        }
    }

    private static void failWith(int seed, String input, Throwable e) {
        var w = new java.io.StringWriter();
        e.printStackTrace(new java.io.PrintWriter(w));
        fail("seed " + seed + ": " + e + "\n--- input ---\n" + input + "\n--- trace ---\n" + w);
    }

    /** 1 to 3 line edits: delete, duplicate, swap, a value replaced, indentation changed, bytes inserted, a cut. */
    static String mutateText(String text, Random rnd) {
        List<String> lines = new ArrayList<>(Arrays.asList(text.split("\n", -1)));
        int edits = 1 + rnd.nextInt(3);
        for (int e = 0; e < edits && !lines.isEmpty(); e++) {
            int i = rnd.nextInt(lines.size());
            switch (rnd.nextInt(7)) {
                case 0 -> lines.remove(i);
                case 1 -> lines.add(i, lines.get(i));
                case 2 -> {
                    int j = rnd.nextInt(lines.size());
                    String t = lines.get(i);
                    lines.set(i, lines.get(j));
                    lines.set(j, t);
                }
                case 3 -> {
                    String line = lines.get(i);
                    int colon = line.indexOf(':');
                    lines.set(i, colon < 0 ? VALUES[rnd.nextInt(VALUES.length)] : line.substring(0, colon + 1) + " " + VALUES[rnd.nextInt(VALUES.length)]);
                }
                case 4 -> lines.set(i, rnd.nextBoolean() ? "  " + lines.get(i) : lines.get(i).replaceFirst("^  ", ""));
                case 5 -> {
                    String line = lines.get(i);
                    int at = rnd.nextInt(line.length() + 1);
                    lines.set(i, line.substring(0, at) + randomChars(rnd) + line.substring(at));
                }
                default -> {
                    String line = lines.get(i);
                    lines.set(i, line.substring(0, rnd.nextInt(line.length() + 1)));
                    lines.subList(i + 1, lines.size()).clear();
                }
            }
        }
        return String.join("\n", lines);
    }

    /** A few bytes flipped, inserted (invalid UTF-8 among them) or cut away. */
    static byte[] mutateBytes(byte[] base, Random rnd) {
        byte[] out = base.clone();
        int edits = 1 + rnd.nextInt(3);
        for (int e = 0; e < edits && out.length > 0; e++) {
            int at = rnd.nextInt(out.length);
            switch (rnd.nextInt(3)) {
                case 0 -> out[at] ^= (byte) (1 << rnd.nextInt(8));
                case 1 -> {
                    byte[] grown = new byte[out.length + 1];
                    System.arraycopy(out, 0, grown, 0, at);
                    grown[at] = (byte) (0x80 + rnd.nextInt(0x80));
                    System.arraycopy(out, at, grown, at + 1, out.length - at);
                    out = grown;
                }
                default -> out = Arrays.copyOf(out, at);
            }
        }
        return out;
    }

    /** A JSON value replaced (a number, string, list or object where another is expected), or the text mutated. */
    static String mutateJsonValue(String json, Random rnd) {
        if (rnd.nextInt(3) == 0) return mutateText(json, rnd);
        String[] values = {"-1", "0", "1e309", "\"x\"", "null", "[]", "{}", "true", "2147483648", "-0.5", "1.5", "\"\""};
        List<int[]> spots = new ArrayList<>();
        var m = java.util.regex.Pattern.compile(":\\s*([^,\\n}]+)").matcher(json);
        while (m.find()) spots.add(new int[] {m.start(1), m.end(1)});
        int[] s = spots.get(rnd.nextInt(spots.size()));
        return json.substring(0, s[0]) + values[rnd.nextInt(values.length)] + json.substring(s[1]);
    }

    private static final String[] CHARS = {"{", "}", "[", "]", ":", ",", "'", "\"", "#", "&", "*", "!", "|", ">", "-", "?", "%", "@", "`",
            "\u0000", "\u00e9", "\ud83d\ude00", "\t", "\r"};

    private static String randomChars(Random rnd) {
        StringBuilder b = new StringBuilder();
        for (int i = 0, n = 1 + rnd.nextInt(4); i < n; i++) b.append(CHARS[rnd.nextInt(CHARS.length)]);
        return b.toString();
    }

    private static String quote(String s) {
        return "\"" + s.replace("\"", "\"\"") + "\"";
    }
}
