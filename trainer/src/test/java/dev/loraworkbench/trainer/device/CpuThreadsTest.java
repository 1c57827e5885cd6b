package dev.loraworkbench.trainer.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class CpuThreadsTest {
    /** Counters a test moves by hand: each {@link #second} adds a second with the given busy cores. */
    private static final class Scripted implements CpuThreads.Counters {
        long busy;
        long own;
        long nanos;

        void second(double othersCores, double ownCores) {
            busy += Math.round((othersCores + ownCores) * CpuThreads.TICKS_PER_SECOND);
            own += Math.round(ownCores * CpuThreads.TICKS_PER_SECOND);
            nanos += 1_000_000_000L;
        }

        @Override public long machineBusyTicks() { return busy; }
        @Override public long ownTicks() { return own; }
        @Override public int statCpus() { return 2; }
        @Override public long nanoTime() { return nanos; }
    }

    @Test
    void theCountIsTheCoresOthersLeaveFree() {
        assertEquals(2, CpuThreads.target(2, 0.05));
        assertEquals(2, CpuThreads.target(2, 0.4));
        assertEquals(1, CpuThreads.target(2, 0.7)); // one busy process among our two spinning threads gets ~2/3 of a core
        assertEquals(1, CpuThreads.target(2, 1.0));
        assertEquals(1, CpuThreads.target(2, 3.0)); // never below one
        assertEquals(5, CpuThreads.target(8, 3.2));
        assertEquals(8, CpuThreads.target(8, 0));
    }

    @Test
    void followsABusyProcessThatComesAndGoesWithoutFlappingOnOneBurst() {
        Scripted c = new Scripted();
        List<Integer> applied = new ArrayList<>();
        CpuThreads threads = new CpuThreads(c, 2, 2, applied::add);

        c.second(0, 2);
        assertEquals(Optional.empty(), threads.adjust(), "idle: stays at 2");
        c.second(0.9, 1.1);
        assertEquals(Optional.empty(), threads.adjust(), "one busy second alone changes nothing");
        c.second(0.1, 1.9);
        assertEquals(Optional.empty(), threads.adjust());
        c.second(0.7, 1.3);
        assertEquals(Optional.empty(), threads.adjust());
        c.second(0.7, 1.3);
        CpuThreads.Change down = threads.adjust().orElseThrow();
        assertEquals(new CpuThreads.Change(2, 1, 0.7, 2), down);
        assertEquals(List.of(1), applied);
        assertEquals(1, threads.current());

        c.second(1.0, 1.0);
        assertEquals(Optional.empty(), threads.adjust(), "the other process still runs: stays at 1");
        c.second(0, 1);
        assertEquals(Optional.empty(), threads.adjust());
        c.second(0, 1);
        assertEquals(2, threads.adjust().orElseThrow().to(), "it stopped: back to 2");
        assertEquals(List.of(1, 2), applied);
        assertTrue(down.describe().contains("2 -> 1") && down.describe().contains("0.7 of 2 cores"), down.describe());
        assertTrue(new CpuThreads.Change(5, 6, 1.6, 8).describe().endsWith("1.6 of 8 cores)"), "the machine's cores, not the count's");
    }

    @Test
    void windowsShorterThanHalfASecondAreNotJudged() {
        Scripted c = new Scripted();
        List<Integer> applied = new ArrayList<>();
        CpuThreads threads = new CpuThreads(c, 2, 2, applied::add);
        for (int i = 0; i < 10; i++) {
            c.busy += 100; // a whole busy core in each 0.1 s: nonsense, and too short to read
            c.nanos += 100_000_000L;
            if (i % 5 != 4) assertEquals(Optional.empty(), threads.adjust());
        }
        assertTrue(applied.size() <= 1, "at most the two 0.5 s windows judged: " + applied);
    }

    @Test
    void aFixedCountMustBeAPositiveNumber() {
        assertEquals(3, CpuThreads.fixedCount("3"));
        for (String bad : List.of("0", "-1", "two", "")) {
            DeviceException e = org.junit.jupiter.api.Assertions.assertThrows(DeviceException.class, () -> CpuThreads.fixedCount(bad));
            assertTrue(e.getMessage().contains("WORKBENCH_THREADS") && e.getMessage().contains("expected auto, off or a number"), e.getMessage());
        }
    }

    @Test
    void procCountersSeeThisProcessWork() {
        assumeTrue(Files.isReadable(Path.of("/proc/self/stat")), "Linux only");
        CpuThreads.ProcCounters proc = new CpuThreads.ProcCounters();
        assertTrue(proc.statCpus() >= 1, "/proc/stat lists its CPUs");
        long own = proc.ownTicks();
        long busy = proc.machineBusyTicks();
        long until = System.nanoTime() + 400_000_000L;
        double sink = 0;
        while (System.nanoTime() < until) sink += Math.sqrt(sink + 1);
        assertTrue(sink > 0);
        long ownSpent = proc.ownTicks() - own;
        assertTrue(ownSpent >= 20, "0.4 s of work is >= 20 ticks of this process: " + ownSpent);
        assertTrue(proc.machineBusyTicks() - busy >= ownSpent - 5, "the machine was at least as busy as this process");
    }
}
