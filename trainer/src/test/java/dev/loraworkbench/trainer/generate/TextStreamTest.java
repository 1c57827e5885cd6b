package dev.loraworkbench.trainer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TextStreamTest {
    @Test
    void piecesAddUpToTheReplyAndNeverSplitACharacter() {
        try (TokenizerFiles tok = TokenizerFiles.load(TinyModelFixture.dir())) {
            String text = "Läuft der 🚀 über 日本語? ok";
            int[] ids = tok.encode(text);
            int end = tok.tokenId("<|im_end|>");
            TextStream stream = new TextStream(tok, Set.of(end));
            StringBuilder shown = new StringBuilder();
            int held = 0;
            for (int id : ids) {
                String piece = stream.accept(id);
                assertFalse(piece.contains("\uFFFD"), "half a character was shown: " + piece);
                if (piece.isEmpty()) held++;
                shown.append(piece);
            }
            assertEquals("", stream.accept(end), "a stop token shows nothing");
            assertEquals(text, shown.toString());
            assertEquals(text, stream.text());
            assertTrue(ids.length > text.codePointCount(0, text.length()) / 2 && held > 0,
                    "byte-level BPE splits the rare characters, so some tokens complete no character (" + held + " held)");
        }
    }
}
