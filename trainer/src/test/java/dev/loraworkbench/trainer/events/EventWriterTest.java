package dev.loraworkbench.trainer.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EventWriterTest {
    @TempDir Path dir;

    @Test
    void independentCrc32cMatchesTheStandardCheckValue() {
        assertEquals(0xe3069283L, TfEventReader.crc32c("123456789".getBytes(StandardCharsets.US_ASCII), 0, 9));
    }

    @Test
    void roundTripThroughAnIndependentReader() throws Exception {
        Path file;
        try (EventWriter w = EventWriter.create(dir)) {
            file = w.file();
            w.scalar("train/loss", 1, 2.5);
            w.scalar("train/learning_rate", 1, 3e-4);
            w.scalar("train/loss", 2, 1.25);
            w.sessionLog(2, EventWriter.SessionStatus.START);
        }
        assertTrue(file.getFileName().toString().matches("events\\.out\\.tfevents\\.\\d+\\..+\\.\\d+\\.\\d+"), file.toString());
        List<TfEventReader.Event> events = TfEventReader.read(file);
        assertEquals(5, events.size());
        assertEquals("brain.Event:2", events.get(0).fileVersion());
        assertTrue(Math.abs(events.get(0).wallTime() - System.currentTimeMillis() / 1000.0) < 60);
        assertEquals(List.of(new TfEventReader.Scalar("train/loss", 1, 2.5f)), events.get(1).scalars());
        assertEquals(List.of(new TfEventReader.Scalar("train/learning_rate", 1, 3e-4f)), events.get(2).scalars());
        assertEquals(List.of(new TfEventReader.Scalar("train/loss", 2, 1.25f)), events.get(3).scalars());
        assertNull(events.get(3).sessionStatus());
        assertEquals(1, events.get(4).sessionStatus());
        assertEquals(2, events.get(4).step());
    }

    @Test
    void textAndHparamsSummaries() throws Exception {
        Path file;
        try (EventWriter w = EventWriter.create(dir)) {
            file = w.file();
            w.text("recipe", 0, "    lora:\n      r: 8");
            w.hparamsSessionStart(new java.util.LinkedHashMap<>(java.util.Map.of("lora.r", 8, "training.schedule", "cosine", "lora.use_rslora", true)), 1.5e9);
            w.hparamsSessionEnd(EventWriter.HparamsStatus.SUCCESS, 1.6e9, 30);
        }
        List<TfEventReader.Event> events = TfEventReader.read(file);
        TfEventReader.PluginValue text = events.get(1).plugins().get(0);
        assertEquals("recipe", text.tag());
        assertEquals("text", text.plugin());
        assertEquals(List.of("    lora:\n      r: 8"), text.strings());
        TfEventReader.PluginValue start = events.get(2).plugins().get(0);
        assertEquals("_hparams_/session_start_info", start.tag());
        assertEquals("hparams", start.plugin());
        assertEquals(java.util.Map.of("lora.r", 8.0, "training.schedule", "cosine", "lora.use_rslora", true), TfEventReader.sessionStartHparams(start.content()));
        TfEventReader.PluginValue end = events.get(3).plugins().get(0);
        assertEquals("_hparams_/session_end_info", end.tag());
        assertEquals(1, TfEventReader.sessionEndStatus(end.content()));
        assertEquals(30, events.get(3).step());
    }

    @Test
    void aFlippedBitIsDetected() throws Exception {
        Path file;
        try (EventWriter w = EventWriter.create(dir)) {
            file = w.file();
            w.scalar("train/loss", 1, 2.5);
        }
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 6] ^= 1;
        Files.write(file, bytes);
        assertThrows(java.io.IOException.class, () -> TfEventReader.read(file));
    }
}
