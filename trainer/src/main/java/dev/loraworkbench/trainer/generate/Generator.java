package dev.loraworkbench.trainer.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.tensor.Tensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Autoregressive decoding with a KV cache: one forward over the prompt (prefill), then one token per step.
 * Each step's temporaries live in a scope closed after the step; only the cache survives.
 */
public final class Generator {
    private final Decoder decoder;
    private final NDManager manager;

    public Generator(Decoder decoder, NDManager manager) {
        this.decoder = decoder;
        this.manager = manager;
    }

    /** What came out: the new token ids (the stop token included when one ended it) and the timings. */
    public record Result(List<Integer> tokens, boolean stopped, long prefillNanos, long decodeNanos) {
        /** Decode speed: generated tokens after the first, per second of decoding. */
        public double tokensPerSecond() {
            return tokens.size() <= 1 || decodeNanos == 0 ? 0 : (tokens.size() - 1) / (decodeNanos / 1e9);
        }
    }

    public Result generate(int[] prompt, int maxNewTokens, Sampler sampler, Set<Integer> stopIds, IntConsumer onToken) {
        return generate(prompt, maxNewTokens, sampler, stopIds, onToken, logits -> { });
    }

    Result generate(int[] prompt, int maxNewTokens, Sampler sampler, Set<Integer> stopIds, IntConsumer onToken, Consumer<float[]> onLogits) {
        try (Session session = session()) {
            return session.generate(prompt, maxNewTokens, sampler, stopIds, onToken, onLogits);
        }
    }

    /** A cache kept across calls, for a conversation: each turn's prompt repeats the earlier turns. */
    public Session session() {
        return new Session();
    }

    /**
     * Each call feeds only the prompt tokens after the longest prefix they share with the tokens the cache holds
     * (the keys and values of a prefix depend on nothing after it), cutting the cache back where they part.
     */
    public final class Session implements AutoCloseable {
        private final Decoder.KvCache cache = new Decoder.KvCache(manager, decoder.config().numLayers());
        private final List<Integer> held = new ArrayList<>(); // tokens whose keys and values the cache holds
        private int reused;

        /** Prompt tokens the last call took from the cache instead of computing them. */
        public int reused() { return reused; }

        public Result generate(int[] prompt, int maxNewTokens, Sampler sampler, Set<Integer> stopIds, IntConsumer onToken) {
            return generate(prompt, maxNewTokens, sampler, stopIds, onToken, logits -> { });
        }

        Result generate(int[] prompt, int maxNewTokens, Sampler sampler, Set<Integer> stopIds, IntConsumer onToken, Consumer<float[]> onLogits) {
            if (prompt.length == 0) throw new IllegalArgumentException("the prompt has no tokens");
            int common = 0;
            while (common < held.size() && common < prompt.length && held.get(common) == prompt[common]) common++;
            reused = Math.min(common, prompt.length - 1); // at least one token goes through, for the next token's logits
            cache.truncate(reused);
            held.subList(reused, held.size()).clear();
            List<Integer> out = new ArrayList<>();
            long t0 = System.nanoTime();
            long prefill = 0;
            int[] next = java.util.Arrays.copyOfRange(prompt, reused, prompt.length);
            while (out.size() < maxNewTokens) {
                float[] logits = lastLogits(next, cache);
                for (int id : next) held.add(id);
                if (out.isEmpty()) prefill = System.nanoTime() - t0;
                onLogits.accept(logits);
                int token = sampler.next(logits);
                out.add(token);
                onToken.accept(token);
                if (stopIds.contains(token)) return new Result(out, true, prefill, System.nanoTime() - t0 - prefill);
                next = new int[] {token};
            }
            return new Result(out, false, prefill, System.nanoTime() - t0 - prefill);
        }

        @Override
        public void close() { cache.close(); }
    }

    /**
     * Greedy answers to several prompts at once (evaluation): left-padded to one length and decoded in lockstep with
     * one KV cache. A row that produced a stop id is done (the stop id ends its list); decoding ends when every row is
     * done or after {@code maxNewTokens}. Token for token what {@link #generate} gives each prompt alone.
     */
    public List<List<Integer>> greedy(List<int[]> prompts, int maxNewTokens, Set<Integer> stopIds) {
        int rows = prompts.size();
        int width = prompts.stream().mapToInt(p -> p.length).max().orElse(0);
        int[] leftPad = new int[rows];
        long[] ids = new long[rows * width];
        for (int b = 0; b < rows; b++) {
            int[] p = prompts.get(b);
            if (p.length == 0) throw new IllegalArgumentException("prompt " + b + " has no tokens");
            leftPad[b] = width - p.length;
            for (int i = 0; i < p.length; i++) ids[b * width + leftPad[b] + i] = p[i];
        }
        List<List<Integer>> out = new ArrayList<>();
        for (int b = 0; b < rows; b++) out.add(new ArrayList<>());
        boolean[] done = new boolean[rows];
        int open = rows;
        try (Decoder.KvCache cache = new Decoder.KvCache(manager, decoder.config().numLayers())) {
            int t = width;
            for (int step = 0; step < maxNewTokens && open > 0; step++) {
                float[] logits;
                try (NDManager scope = manager.newSubManager()) {
                    logits = decoder.logitsCached(Tensors.of(scope, ids, new Shape(rows, t)), cache, leftPad).toFloatArray(); // [B, 1, V]
                }
                int vocab = logits.length / rows;
                ids = new long[rows];
                t = 1;
                for (int b = 0; b < rows; b++) {
                    if (done[b]) continue; // a finished row's later tokens are computed in lockstep and dropped
                    int token = Sampler.argmax(java.util.Arrays.copyOfRange(logits, b * vocab, (b + 1) * vocab));
                    out.get(b).add(token);
                    ids[b] = token;
                    if (stopIds.contains(token)) {
                        done[b] = true;
                        open--;
                    }
                }
            }
        }
        return out;
    }

    private float[] lastLogits(int[] ids, Decoder.KvCache cache) {
        try (NDManager step = manager.newSubManager()) {
            long[] l = new long[ids.length];
            for (int i = 0; i < ids.length; i++) l[i] = ids[i];
            NDArray logits = decoder.logitsCached(Tensors.of(step, l, new Shape(1, ids.length)), cache);
            return logits.get("0, -1, :").toFloatArray();
        }
    }

    /** The same decoding by full recomputation of the growing sequence (no cache): row k predicts continuation[k]. The reference the cache is tested against. */
    public List<float[]> recomputeLogits(int[] prompt, List<Integer> continuation) {
        List<float[]> rows = new ArrayList<>();
        for (int k = 0; k < continuation.size(); k++) {
            int n = prompt.length + k;
            long[] seq = new long[n];
            for (int i = 0; i < n; i++) seq[i] = i < prompt.length ? prompt[i] : continuation.get(i - prompt.length);
            try (NDManager step = manager.newSubManager()) {
                NDArray logits = decoder.logits(Tensors.of(step, seq, new Shape(1, n)), new int[] {n}, false);
                rows.add(logits.get("0, -1, :").toFloatArray());
            }
        }
        return rows;
    }
}
