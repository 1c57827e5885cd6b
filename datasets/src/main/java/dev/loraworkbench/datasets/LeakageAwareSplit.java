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
 * Train/eval split that keeps paraphrases on one side. Two examples are the same example when what distinguishes
 * them matches: words that many questions share (a template such as "What does X do?") are set aside, and the rest
 * (identifiers and content words) is compared, as character 5-gram Jaccard found by MinHash, and as TF-IDF cosine
 * within a Tribuo k-means topic; identical substantial answers link too. Linked examples form groups; whole groups go
 * to eval until the requested fraction is reached, and a split that cannot reach it within
 * {@link #TOLERANCE} fails with the reason instead of returning a tiny or empty eval set. Deterministic for a seed.
 */
public final class LeakageAwareSplit {
    /** Jaccard similarity of distinctive character 5-gram sets above which two questions are near-duplicates. */
    public static final double NEAR_DUPLICATE = 0.5;
    /** TF-IDF cosine of distinctive words above which two questions of one topic are paraphrases. */
    static final double PARAPHRASE = 0.5;
    /** How far the eval fraction may land from the request (or one example, on tiny data). */
    public static final double TOLERANCE = 0.05;
    /** Answers at least this long (normalised) that are identical mark the same example asked twice. */
    private static final int SUBSTANTIAL_ANSWER = 30;
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
        Vocabulary vocabulary = Vocabulary.of(questions);
        List<String> distinctive = questions.stream().map(vocabulary::distinctive).toList();
        List<Set<String>> shingles = distinctive.stream().map(LeakageAwareSplit::shingles).toList();
        UnionFind groups = new UnionFind(n);

        int nearDuplicates = 0;
        for (int[] pair : candidatePairs(shingles, seed)) {
            if (jaccard(shingles.get(pair[0]), shingles.get(pair[1])) >= NEAR_DUPLICATE) {
                groups.union(pair[0], pair[1]);
                nearDuplicates++;
            }
        }
        Map<String, Integer> firstWithAnswer = new HashMap<>();
        for (int i = 0; i < n; i++) {
            String answer = normalize(answerText(examples.get(i)));
            if (answer.length() < SUBSTANTIAL_ANSWER) continue;
            Integer first = firstWithAnswer.putIfAbsent(answer, i);
            if (first != null) groups.union(first, i);
        }
        List<Map<String, Double>> vectors = distinctive.stream().map(vocabulary::tfidf).toList();
        int[] topic = topics(vectors, seed);
        Map<Integer, List<Integer>> byTopic = new TreeMap<>();
        for (int i = 0; i < n; i++) byTopic.computeIfAbsent(topic[i], k -> new ArrayList<>()).add(i);
        for (List<Integer> members : byTopic.values()) { // a topic only proposes pairs: linking its members wholesale chained unrelated questions
            for (int x = 0; x < members.size(); x++) {
                for (int y = x + 1; y < members.size(); y++) {
                    if (cosine(vectors.get(members.get(x)), vectors.get(members.get(y))) >= PARAPHRASE) groups.union(members.get(x), members.get(y));
                }
            }
        }

        Map<Integer, List<Integer>> members = new TreeMap<>();
        for (int i = 0; i < n; i++) members.computeIfAbsent(groups.find(i), k -> new ArrayList<>()).add(i);
        List<List<Integer>> order = new ArrayList<>(members.values());
        Collections.shuffle(order, new Random(seed));
        int target = Math.max(1, (int) Math.round(n * evalFraction));
        boolean[] inEval = new boolean[n];
        boolean[] taken = new boolean[order.size()];
        int evalCount = 0;
        for (int g = 0; g < order.size(); g++) { // whole groups, in seeded order, as long as they fit
            if (evalCount + order.get(g).size() > target) continue;
            taken[g] = true;
            evalCount += order.get(g).size();
        }
        while (evalCount < target) { // then the group that lands closest to the target, if it lands closer
            int best = -1;
            for (int g = 0; g < order.size(); g++) {
                if (taken[g]) continue;
                if (best < 0 || Math.abs(evalCount + order.get(g).size() - target) < Math.abs(evalCount + order.get(best).size() - target)) best = g;
            }
            if (best < 0 || Math.abs(evalCount + order.get(best).size() - target) >= target - evalCount) break;
            taken[best] = true;
            evalCount += order.get(best).size();
        }
        for (int g = 0; g < order.size(); g++) if (taken[g]) for (int i : order.get(g)) inEval[i] = true;
        double tolerance = Math.max(TOLERANCE, 1.0 / n);
        if (evalFraction > 0 && (evalCount == 0 || evalCount == n || Math.abs((double) evalCount / n - evalFraction) > tolerance)) {
            int largest = members.values().stream().mapToInt(List::size).max().orElse(0);
            throw new DatasetException(String.format("cannot put %.0f%% of %d examples into eval while keeping near-duplicates and paraphrases "
                    + "together: the closest is %d (%.0f%%); the %d groups hold up to %d examples each (largest: \"%s\"). Lower "
                    + "eval_fraction, add more distinct questions, or give eval_path with a hand-made eval set",
                    100 * evalFraction, n, evalCount, 100.0 * evalCount / n, members.size(), largest, questions.get(largestGroupMember(members))));
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

    /** The assistant turns of an example. */
    static String answerText(Example e) {
        StringBuilder sb = new StringBuilder();
        for (Message m : e.messages()) if (m.role().equals("assistant")) sb.append(m.content()).append(' ');
        return sb.toString().trim();
    }

    static String normalize(String text) {
        return text.toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{N}]+", " ").trim();
    }

    private static int largestGroupMember(Map<Integer, List<Integer>> members) {
        return members.values().stream().max(java.util.Comparator.comparingInt(List::size)).orElseThrow().get(0);
    }

    /**
     * Words by how many questions use them. A word in more than {@code max(4, 5%)} of the questions belongs to the data's
     * templates and phrasing ("what", "does", "explain", "class"), not to what one question asks about.
     */
    record Vocabulary(Map<String, Integer> documentFrequency, int questions) {
        static Vocabulary of(List<String> questions) {
            Map<String, Integer> df = new HashMap<>();
            for (String q : questions) new HashSet<>(words(q)).forEach(w -> df.merge(w, 1, Integer::sum));
            return new Vocabulary(df, questions.size());
        }

        boolean common(String word) {
            return documentFrequency.getOrDefault(word, 0) > Math.max(4, questions / 20);
        }

        /** The question's distinctive words in order, or all its words when every one is common. */
        String distinctive(String question) {
            List<String> all = words(question);
            List<String> kept = all.stream().filter(w -> !common(w)).toList();
            return String.join(" ", kept.isEmpty() ? all : kept);
        }

        /** TF-IDF of the words of an already distinctive text. */
        Map<String, Double> tfidf(String text) {
            Map<String, Double> v = new TreeMap<>();
            for (String w : words(text)) v.merge(w, 1.0, Double::sum);
            v.replaceAll((w, tf) -> tf * Math.log((double) (questions + 1) / (documentFrequency.getOrDefault(w, 0) + 1)));
            return v;
        }
    }

    static List<String> words(String text) {
        String t = normalize(text);
        return t.isEmpty() ? List.of() : List.of(t.split(" "));
    }

    static double cosine(Map<String, Double> a, Map<String, Double> b) {
        double dot = 0, na = 0, nb = 0;
        for (var e : a.entrySet()) {
            na += e.getValue() * e.getValue();
            Double o = b.get(e.getKey());
            if (o != null) dot += e.getValue() * o;
        }
        for (double v : b.values()) nb += v * v;
        return na == 0 || nb == 0 ? 0 : dot / Math.sqrt(na * nb);
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

    /** Topic of each question: Tribuo k-means (cosine distance, k-means++) over the TF-IDF of its distinctive words, about 6 questions per topic (at most 256 topics). */
    static int[] topics(List<Map<String, Double>> vectors, long seed) {
        int n = vectors.size();
        if (n < 4) return new int[n];
        ClusteringFactory factory = new ClusteringFactory();
        MutableDataset<ClusterID> data = new MutableDataset<>(new SimpleDataSourceProvenance("questions", factory), factory);
        for (Map<String, Double> v : vectors) {
            ArrayExample<ClusterID> ex = new ArrayExample<>(ClusteringFactory.UNASSIGNED_CLUSTER_ID);
            v.forEach((w, x) -> ex.add("w:" + w, x));
            if (ex.size() == 0) ex.add("w:", 1.0); // a question without words still needs a feature
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
