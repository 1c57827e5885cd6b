package dev.loraworkbench.datasets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ByteLevelBpeTrainerTest {
    @TempDir Path dir;

    @Test
    void trainedTokenizerLoadsInHfTokenizersAndRoundTrips() throws Exception {
        try (TokenizerFiles tok = TokenizerFiles.load(TestTokenizers.chatml(dir))) {
            for (String text : new String[] {"What does the trainer do?", "unseen wörds, émojis 🚀 and\ttabs\n\nnewlines", "  leading spaces"}) {
                int[] ids = tok.encode(text);
                assertEquals(text, tok.decode(ids), "byte-level BPE must round-trip any text");
            }
            // learned merges make frequent words shorter than their bytes
            assertTrue(tok.encode(" trainer").length < " trainer".length());
            // special tokens are single ids, never split
            assertEquals(1, tok.encode("<|im_end|>").length);
            int[] ids = tok.encode("<|im_start|>user\nhi<|im_end|>");
            assertEquals(tok.tokenId("<|im_start|>"), ids[0]);
            assertEquals(tok.tokenId("<|im_end|>"), ids[ids.length - 1]);
        }
    }

    @Test
    void trainingIsDeterministic() {
        String corpus = "the quick brown fox jumps over the lazy dog; the dog sleeps, the fox runs";
        assertEquals(ByteLevelBpeTrainer.train(corpus, 30, java.util.List.of("<s>")), ByteLevelBpeTrainer.train(corpus, 30, java.util.List.of("<s>")));
    }

    @Test
    void largestIdCoversTheVocabularyAndAddedTokens() throws Exception {
        Path map = dir.resolve("map.json");
        java.nio.file.Files.writeString(map, "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 70, \"content\": \"<x>\"}], "
                + "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 41, \"c\": 7}, \"merges\": [\"a b\"]}}");
        assertEquals(70, TokenizerFiles.largestId(map));
        Path list = dir.resolve("list.json");
        java.nio.file.Files.writeString(list, "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0], [\"b\", -2.0], [\"c\", -3.0]]}}");
        assertEquals(2, TokenizerFiles.largestId(list));
        try (TokenizerFiles tok = TokenizerFiles.load(TestTokenizers.chatml(dir))) {
            int largest = TokenizerFiles.largestId(dir.resolve("tokenizer.json"));
            assertEquals(tok.tokenId("<|im_end|>"), largest, "the last added special token has the largest id");
        }
    }

    /** Two tokenizers trained apart from the same corpus give the same ids: a rebuilt tiny model reads old data the same way. */
    @Test
    void independentlyTrainedTokenizersGiveTheSameIds() throws Exception {
        Path first = java.nio.file.Files.createDirectories(dir.resolve("first"));
        Path second = java.nio.file.Files.createDirectories(dir.resolve("second"));
        try (TokenizerFiles a = TokenizerFiles.load(TestTokenizers.chatml(first)); TokenizerFiles b = TokenizerFiles.load(TestTokenizers.chatml(second))) {
            for (String text : new String[] {"the recipe", "What does the trainer do?", "<|im_start|>user\nnew wörds<|im_end|>"}) {
                int[] ids = a.encode(text);
                assertTrue(ids.length > 1, text);
                assertArrayEquals(ids, b.encode(text), text);
            }
        }
    }
}
