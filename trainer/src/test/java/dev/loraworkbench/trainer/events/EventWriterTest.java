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
