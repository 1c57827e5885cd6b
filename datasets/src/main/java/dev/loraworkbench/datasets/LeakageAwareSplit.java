package dev.loraworkbench.datasets;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import org.tribuo.MutableDataset;
import org.tribuo.Prediction;
import org.tribuo.clustering.ClusterID;
import org.tribuo.clustering.ClusteringFactory;
import org.tribuo.clustering.kmeans.KMeansModel;
import org.tribuo.clustering.kmeans.KMeansTrainer;
import org.tribuo.impl.ArrayExample;
import org.tribuo.math.distance.CosineDistance;
import org.tribuo.provenance.SimpleDataSourceProvenance;

/**
 * Train/eval split that keeps paraphrases on one side. Questions are grouped twice: near-duplicates by
 * character 5-gram MinHash (exact wording changes), and topics by Tribuo k-means over TF-IDF word
 * vectors (reworded paraphrases share their content words). Groups connected by either relation are
 * merged, and whole groups go to eval until the requested fraction is reached. Deterministic for a seed.
 */
public final class LeakageAwareSplit {
    /** Jaccard similarity of character 5-gram sets above which two questions are near-duplicates. */
    public static final double NEAR_DUPLICATE = 0.5;
    private static final int SHINGLE = 5, HASHES = 64, BANDS = 16;
    /** Tribuo reports every k-means iteration at INFO through java.util.logging; keep the CLI quiet (held: JUL keeps loggers weakly). */
    private static final java.util.logging.Logger TRIBUO_LOG = java.util.logging.Logger.getLogger("org.tribuo");

    static {
        TRIBUO_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    /** The split and how it was made. {@code closestCrossSimilarity}: the most similar train/eval question pair. */
    public record Result(List<Example> train, List<Example> eval, int groups, int largestGroup, int nearDuplicatePairs,
                         int topics, double closestCrossSimilarity, String closestTrain, String closestEval) {

        /** train.jsonl, eval.jsonl and split-report.json (counts, seed, groups, the closest train/eval pair) into {@code dir}. */
        public void write(Path dir, Path input, long seed) throws IOException {
            Files.createDirectories(dir);
            DatasetWriter.writeJsonl(dir.resolve("train.jsonl"), train);
            DatasetWriter.writeJsonl(dir.resolve("eval.jsonl"), eval);
            ObjectMapper json = new ObjectMapper();
            ObjectNode report = json.createObjectNode();
            report.put("input", input.toString()).put("examples", train.size() + eval.size()).put("train", train.size()).put("eval", eval.size())
                    .put("seed", seed).put("groups", groups).put("largest_group", largestGroup)
                    .put("near_duplicate_pairs", nearDuplicatePairs).put("topics", topics)
                    .put("closest_train_eval_similarity", closestCrossSimilarity)
                    .put("closest_train_question", closestTrain).put("closest_eval_question", closestEval);
            Files.writeString(dir.resolve("split-report.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        }
    }

    private LeakageAwareSplit() {}

    public static Result split(List<Example> examples, double evalFraction, long seed) {
        int n = examples.size();
        List<String> questions = examples.stream().map(LeakageAwareSplit::promptText).toList();
        List<Set<String>> shingles = questions.stream().map(LeakageAwareSplit::shingles).toList();
        UnionFind groups = new UnionFind(n);

        int nearDuplicates = 0;
        for (int[] pair : candidatePairs(shingles, seed)) {
            if (jaccard(shingles.get(pair[0]), shingles.get(pair[1])) >= NEAR_DUPLICATE) {
                groups.union(pair[0], pair[1]);
                nearDuplicates++;
            }
        }
        int[] topic = topics(questions, seed);
        Map<Integer, Integer> firstOfTopic = new HashMap<>();
        for (int i = 0; i < n; i++) {
            Integer first = firstOfTopic.putIfAbsent(topic[i], i);
            if (first != null) groups.union(first, i);
        }

        Map<Integer, List<Integer>> members = new TreeMap<>();
        for (int i = 0; i < n; i++) members.computeIfAbsent(groups.find(i), k -> new ArrayList<>()).add(i);
        List<List<Integer>> order = new ArrayList<>(members.values());
        Collections.shuffle(order, new Random(seed));
        int target = Math.max(1, (int) Math.round(n * evalFraction));
        boolean[] inEval = new boolean[n];
        int evalCount = 0;
        for (List<Integer> g : order) {
            if (evalCount >= target) break;
            if (evalCount + g.size() > target + g.size() / 2) continue; // would overshoot by more than half the group
            for (int i : g) inEval[i] = true;
            evalCount += g.size();
        }
        if (evalCount == 0) { // every group is too big for the fraction: take the smallest, if that still leaves training data
            List<Integer> smallest = order.stream().min(java.util.Comparator.comparingInt(List::size)).orElseThrow();
            if (smallest.size() < n) {
                for (int i : smallest) inEval[i] = true;
            }
        }
        List<Example> train = new ArrayList<>();
        List<Example> eval = new ArrayList<>();
        for (int i = 0; i < n; i++) (inEval[i] ? eval : train).add(examples.get(i));

        // closest train/eval pair: exact over (up to) the first 500 eval questions, which bounds the cost on large data
        double closest = 0;
        int bestTrain = -1, bestEval = -1;
        int evalSeen = 0;
        for (int e = 0; e < n && evalSeen < 500; e++) {
            if (!inEval[e]) continue;
            evalSeen++;
            for (int t = 0; t < n; t++) {
                if (inEval[t]) continue;
                double s = jaccard(shingles.get(e), shingles.get(t));
                if (s > closest) { closest = s; bestTrain = t; bestEval = e; }
            }
        }
        int largest = members.values().stream().mapToInt(List::size).max().orElse(0);
        return new Result(train, eval, members.size(), largest, nearDuplicates, (int) Arrays.stream(topic).distinct().count(), closest,
                bestTrain < 0 ? null : questions.get(bestTrain), bestEval < 0 ? null : questions.get(bestEval));
    }

    /** The user turns of an example: what a paraphrase would repeat. */
    static String promptText(Example e) {
        StringBuilder sb = new StringBuilder();
        for (Message m : e.messages()) if (m.role().equals("user")) sb.append(m.content()).append(' ');
        return sb.toString().trim();
    }

    static String normalize(String text) {
        return text.toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{N}]+", " ").trim();
    }

    static Set<String> shingles(String text) {
        String t = " " + normalize(text) + " ";
        Set<String> out = new HashSet<>();
        for (int i = 0; i + SHINGLE <= t.length(); i++) out.add(t.substring(i, i + SHINGLE));
        if (out.isEmpty()) out.add(t);
        return out;
    }

    static double jaccard(Set<String> a, Set<String> b) {
        int inter = 0;
        for (String s : a.size() < b.size() ? a : b) if ((a.size() < b.size() ? b : a).contains(s)) inter++;
        return (double) inter / (a.size() + b.size() - inter);
    }

    /** MinHash + LSH banding: pairs that share a band are candidates (far fewer than all n² pairs). */
    private static Set<int[]> candidatePairs(List<Set<String>> shingles, long seed) {
        Random r = new Random(seed);
        long[] a = new long[HASHES], b = new long[HASHES];
        for (int h = 0; h < HASHES; h++) { a[h] = r.nextLong() | 1; b[h] = r.nextLong(); }
        int rows = HASHES / BANDS;
        Map<String, List<Integer>> buckets = new HashMap<>();
        for (int i = 0; i < shingles.size(); i++) {
            long[] sig = new long[HASHES];
            Arrays.fill(sig, Long.MAX_VALUE);
            for (String s : shingles.get(i)) {
                long x = s.hashCode();
                for (int h = 0; h < HASHES; h++) sig[h] = Math.min(sig[h], (a[h] * x + b[h]) >>> 1);
            }
            for (int band = 0; band < BANDS; band++) {
                buckets.computeIfAbsent(band + ":" + Arrays.toString(Arrays.copyOfRange(sig, band * rows, (band + 1) * rows)), k -> new ArrayList<>()).add(i);
            }
        }
        Map<String, int[]> pairs = new LinkedHashMap<>();
        for (List<Integer> bucket : buckets.values()) {
            for (int x = 0; x < bucket.size(); x++) {
                for (int y = x + 1; y < bucket.size(); y++) pairs.putIfAbsent(bucket.get(x) + "-" + bucket.get(y), new int[] {bucket.get(x), bucket.get(y)});
            }
        }
        return new java.util.LinkedHashSet<>(pairs.values());
    }

    /** Topic of each question: Tribuo k-means (cosine distance, k-means++) over TF-IDF of its words, about 6 questions per topic (at most 256 topics). */
    static int[] topics(List<String> questions, long seed) {
        int n = questions.size();
        if (n < 4) return new int[n];
        List<Map<String, Integer>> counts = new ArrayList<>();
        Map<String, Integer> documentFrequency = new HashMap<>();
        for (String q : questions) {
            Map<String, Integer> c = new TreeMap<>();
            for (String w : normalize(q).split(" ")) if (w.length() > 2) c.merge(w, 1, Integer::sum);
            c.keySet().forEach(w -> documentFrequency.merge(w, 1, Integer::sum));
            counts.add(c);
        }
        ClusteringFactory factory = new ClusteringFactory();
        MutableDataset<ClusterID> data = new MutableDataset<>(new SimpleDataSourceProvenance("questions", factory), factory);
        for (Map<String, Integer> c : counts) {
            ArrayExample<ClusterID> ex = new ArrayExample<>(ClusteringFactory.UNASSIGNED_CLUSTER_ID);
            c.forEach((w, tf) -> ex.add("w:" + w, tf * Math.log((double) n / documentFrequency.get(w))));
            if (ex.size() == 0) ex.add("w:", 1.0); // a question of stop-words only still needs a feature
            data.add(ex);
        }
        int k = Math.min(256, Math.max(2, n / 6));
        KMeansTrainer trainer = new KMeansTrainer(k, 50, new CosineDistance(), KMeansTrainer.Initialisation.PLUSPLUS, 1, seed);
        KMeansModel model = trainer.train(data);
        List<Prediction<ClusterID>> predictions = model.predict(data);
        int[] topic = new int[n];
        for (int i = 0; i < n; i++) topic[i] = predictions.get(i).getOutput().getID();
        return topic;
    }

    private static final class UnionFind {
        private final int[] parent;

        UnionFind(int n) {
            parent = new int[n];
            for (int i = 0; i < n; i++) parent[i] = i;
        }

        int find(int x) {
            while (parent[x] != x) x = parent[x] = parent[parent[x]];
            return x;
        }

        void union(int x, int y) {
            int a = find(x), b = find(y);
            if (a != b) parent[Math.max(a, b)] = Math.min(a, b);
        }
    }
}
