package dev.loraworkbench.datasets;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Token counts of a dataset as the trainer will see it (chat template + real tokenizer + max_seq_len policy). */
public record DatasetStats(int examples, int duplicates, int truncated, int dropped, Distribution prompt, Distribution completion,
                           Distribution total, long tokensPerEpoch, long trainedTokensPerEpoch) {

    /** min / median / p95 / max / mean of a list of token counts. */
    public record Distribution(int min, int median, int p95, int max, double mean, int[] values) {
        public static Distribution of(int[] values) {
            int[] v = values.clone();
            Arrays.sort(v);
            if (v.length == 0) return new Distribution(0, 0, 0, 0, 0, v);
            return new Distribution(v[0], v[(v.length - 1) / 2], v[(int) Math.ceil(0.95 * v.length) - 1], v[v.length - 1],
                    Arrays.stream(v).average().orElse(0), v);
        }

        /** A text histogram in {@code bins} equal-width bins: "  lo-hi | ####### n". */
        public String histogram(int bins, int width) {
            if (values.length == 0) return "";
            int lo = min, hi = max + 1;
            int step = Math.max(1, (int) Math.ceil((hi - lo) / (double) bins));
            int[] counts = new int[(hi - lo + step - 1) / step];
            for (int x : values) counts[(x - lo) / step]++;
            int most = Arrays.stream(counts).max().orElse(1);
            StringBuilder sb = new StringBuilder();
            for (int b = 0; b < counts.length; b++) {
                String range = String.format("%6d-%-6d", lo + b * step, lo + (b + 1) * step - 1);
                sb.append(range).append(" | ").append("#".repeat((int) Math.round((double) counts[b] * width / most)))
                        .append(' ').append(counts[b]).append('\n');
            }
            return sb.toString();
        }
    }

    public static DatasetStats of(List<Example> examples, ExampleEncoder encoder) {
        int n = examples.size();
        int[] prompt = new int[n], completion = new int[n], total = new int[n];
        int kept = 0, truncated = 0, dropped = 0, duplicates = 0;
        long tokens = 0, trained = 0;
        Set<Long> seen = new HashSet<>();
        for (Example e : examples) {
            if (!seen.add(e.contentHash())) duplicates++;
            var encoded = encoder.encode(e);
            if (encoded.isEmpty()) { dropped++; continue; }
            EncodedExample x = encoded.get();
            if (x.truncated()) truncated++;
            completion[kept] = x.trainedTokens();
            prompt[kept] = x.ids().length - x.trainedTokens();
            total[kept] = x.ids().length;
            tokens += x.ids().length;
            trained += x.trainedTokens();
            kept++;
        }
        return new DatasetStats(n, duplicates, truncated, dropped, Distribution.of(Arrays.copyOf(prompt, kept)),
                Distribution.of(Arrays.copyOf(completion, kept)), Distribution.of(Arrays.copyOf(total, kept)), tokens, trained);
    }
}
