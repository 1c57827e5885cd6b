package dev.loraworkbench.trainer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class GeneratorTest {
    private static final int[] PROMPT = {5, 77, 301, 12, 999, 45, 1500, 8, 64, 3};

    @Test
    void kvCacheGivesTheSameLogitsAndTokensAsFullRecomputation() {
        try (HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir()); NDManager m = NDManager.newBaseManager("PyTorch")) {
            Decoder decoder = new Decoder(ckpt.config(), DecoderWeights.load(ckpt, m));
            Generator g = new Generator(decoder, m);
            List<float[]> cached = new ArrayList<>();
            Generator.Result r = g.generate(PROMPT, 24, Sampler.greedy(), Set.of(), t -> { }, cached::add);
            assertEquals(24, r.tokens().size());
            List<float[]> recomputed = g.recomputeLogits(PROMPT, r.tokens());
            for (int k = 0; k < r.tokens().size(); k++) {
                float[] a = cached.get(k);
                float[] b = recomputed.get(k);
                float worst = 0;
                float range = 0;
                for (int v = 0; v < a.length; v++) {
                    worst = Math.max(worst, Math.abs(a[v] - b[v]));
                    range = Math.max(range, Math.abs(b[v]));
                }
                assertTrue(worst <= 1e-4f * Math.max(1, range), "step " + k + ": max |cached - recomputed| = " + worst);
                assertEquals(Sampler.argmax(b), r.tokens().get(k), "step " + k);
            }
        }
    }

    /** Decoding holds two arrays per layer in the cache, however many tokens it generates (no per-step leftovers). */
    @Test
    void theCacheHoldsOnlyKeysAndValues() {
        try (HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir()); NDManager m = NDManager.newBaseManager("PyTorch")) {
            Decoder decoder = new Decoder(ckpt.config(), DecoderWeights.load(ckpt, m));
            int layers = ckpt.config().numLayers();
            try (Decoder.KvCache cache = new Decoder.KvCache(m, layers)) {
                for (int step = 0; step < 12; step++) {
                    try (NDManager s = m.newSubManager()) {
                        long[] ids = step == 0 ? new long[] {5, 77, 301} : new long[] {7};
                        decoder.logitsCached(dev.loraworkbench.trainer.tensor.Tensors.of(s, ids, new ai.djl.ndarray.types.Shape(1, ids.length)), cache);
                    }
                    assertEquals(2 * layers, cache.liveArrays(), "after step " + step);
                }
                assertEquals(14, cache.length());
            }
        }
    }

    /** A chat session reuses the cached prefix of each new prompt, cut back where the prompt parts from it: same tokens as from scratch. */
    @Test
    void aSessionReusesTheSharedPrefixExactly() {
        try (HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir()); NDManager m = NDManager.newBaseManager("PyTorch")) {
            Generator g = new Generator(new Decoder(ckpt.config(), DecoderWeights.load(ckpt, m)), m);
            try (Generator.Session session = g.session()) {
                List<Integer> first = session.generate(PROMPT, 6, Sampler.greedy(), Set.of(), t -> { }).tokens();
                assertEquals(0, session.reused());
                // the next turn repeats the conversation so far (prompt + reply) and adds to it
                int[] next = java.util.stream.IntStream.concat(java.util.stream.IntStream.concat(java.util.Arrays.stream(PROMPT),
                        first.stream().mapToInt(Integer::intValue)), java.util.stream.IntStream.of(9, 88, 1200)).toArray();
                List<Integer> second = session.generate(next, 8, Sampler.greedy(), Set.of(), t -> { }).tokens();
                assertEquals(PROMPT.length + first.size() - 1, session.reused(), "everything fed so far is reused");
                assertEquals(g.generate(next, 8, Sampler.greedy(), Set.of(), t -> { }).tokens(), second);
                // a prompt that parts from the cache half-way through the first prompt
                int[] edited = java.util.Arrays.copyOf(PROMPT, PROMPT.length);
                edited[5] = 333;
                List<Integer> third = session.generate(edited, 8, Sampler.greedy(), Set.of(), t -> { }).tokens();
                assertEquals(5, session.reused());
                assertEquals(g.generate(edited, 8, Sampler.greedy(), Set.of(), t -> { }).tokens(), third);
            }
        }
    }

    /** Evaluation decodes many questions at once, left-padded: the same tokens as each question alone, rows stopping on their own. */
    @Test
    void batchedGreedyEqualsOnePromptAtATime() {
        try (HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir()); NDManager m = NDManager.newBaseManager("PyTorch")) {
            Generator g = new Generator(new Decoder(ckpt.config(), DecoderWeights.load(ckpt, m)), m);
            java.util.Random random = new java.util.Random(3);
            List<int[]> prompts = new ArrayList<>();
            for (int length : new int[] {3, 17, 1, 10, 24}) prompts.add(random.ints(length, 0, ckpt.config().vocabSize()).toArray());
            List<List<Integer>> alone = new ArrayList<>();
            for (int[] p : prompts) alone.add(g.generate(p, 12, Sampler.greedy(), Set.of(), t -> { }).tokens());
            // stop ids: the 4th token of row 1's free run and the 1st of row 3's, so those rows end early (others may too)
            Set<Integer> stop = Set.of(alone.get(1).get(3), alone.get(3).get(0));
            List<List<Integer>> expected = new ArrayList<>();
            for (int[] p : prompts) expected.add(g.generate(p, 12, Sampler.greedy(), stop, t -> { }).tokens());
            assertEquals(expected, g.greedy(prompts, 12, stop));
            assertTrue(expected.get(3).size() == 1 && expected.get(1).size() <= 4, "rows 1 and 3 stopped early: " + expected);
            assertTrue(expected.stream().anyMatch(r -> r.size() == 12), "some row ran to max_new_tokens: " + expected);
            assertTrue(alone.stream().flatMap(List::stream).distinct().count() > 5, "the model produces varied tokens: " + alone);
        }
    }

    @Test
    void stopsAtAStopTokenAndSamplingIsSeeded() {
        try (HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir()); NDManager m = NDManager.newBaseManager("PyTorch")) {
            Generator g = new Generator(new Decoder(ckpt.config(), DecoderWeights.load(ckpt, m)), m);
            List<Integer> free = g.generate(PROMPT, 8, Sampler.greedy(), Set.of(), t -> { }).tokens();
            Generator.Result stopped = g.generate(PROMPT, 8, Sampler.greedy(), Set.of(free.get(2)), t -> { });
            assertTrue(stopped.stopped());
            assertEquals(free.subList(0, free.indexOf(free.get(2)) + 1), stopped.tokens());
            List<Integer> a = g.generate(PROMPT, 12, new Sampler(1.0, 0.9, 7), Set.of(), t -> { }).tokens();
            List<Integer> b = g.generate(PROMPT, 12, new Sampler(1.0, 0.9, 7), Set.of(), t -> { }).tokens();
            assertEquals(a, b, "same seed, same tokens");
        }
    }

    @Test
    void topPKeepsTheSmallestNucleus() {
        float[] logits = {0f, (float) Math.log(6), (float) Math.log(3), -1e9f}; // p = .1, .6, .3, 0
        Sampler s = new Sampler(1.0, 0.5, 1);
        for (int i = 0; i < 50; i++) assertEquals(1, s.next(logits), "top_p 0.5 keeps only the 0.6 token");
        Sampler wide = new Sampler(1.0, 0.85, 1);
        for (int i = 0; i < 200; i++) {
            int t = wide.next(logits);
            assertTrue(t == 1 || t == 2, "top_p 0.85 keeps the 0.6 and 0.3 tokens, got " + t);
        }
    }
}
