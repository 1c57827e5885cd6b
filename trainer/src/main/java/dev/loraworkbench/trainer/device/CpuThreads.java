package dev.loraworkbench.trainer.device;

import ai.djl.pytorch.jni.JniUtils;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.IntConsumer;

/**
 * libtorch's intra-op thread count, fitted between training steps to the cores other processes leave free.
 *
 * <p>Why: libtorch's OpenMP threads spin at every barrier. When another busy process takes one of the cores, the thread
 * that shares it is descheduled and its partners spin until it comes back, so a step costs several time slices: the
 * quickstart fell from 4,452 to 1,304 tok/s beside one {@code yes > /dev/null} on 2 cores. Passive waiting fixes that
 * but costs 45 % on an idle machine; one thread fewer than the busy cores costs nothing there. So between steps the
 * count follows the cores others use, measured from /proc/stat minus this process's own CPU time.
 *
 * <p>{@code -Dworkbench.threads} or {@code WORKBENCH_THREADS}: {@code auto} (default), {@code off} (libtorch's own
 * count, never changed) or a number. A count that changes mid-run splits libtorch's reductions differently, so a run
 * whose count changed repeats to fp32 rounding, not bit for bit; {@code off} or a number keeps it bitwise (tests do).
 */
public final class CpuThreads {
    /** Samples shorter than this say little: /proc/stat counts in 10 ms ticks. */
    static final long MIN_WINDOW_NANOS = 500_000_000L;

    /** What this machine's counters say; a seam for tests. */
    interface Counters {
        /** Busy ticks of all CPUs together, or -1 if unreadable. */
        long machineBusyTicks();

        /** This process's user + system ticks, or -1 if unreadable. */
        long ownTicks();

        /** CPUs that /proc/stat counts (0 if unreadable). */
        int statCpus();

        long nanoTime();
    }

    /** A change of count, for the run's log. */
    public record Change(int from, int to, double othersBusy, int cores) {
        public String describe() {
            return String.format("threads  %d -> %d (other processes are using %.1f of %d cores)", from, to, othersBusy, cores);
        }
    }

    private final Counters counters;
    private final int cores;
    private final IntConsumer apply;
    private int current;
    private long lastBusy;
    private long lastOwn;
    private long lastNanos;
    private int pendingTarget;

    CpuThreads(Counters counters, int cores, int current, IntConsumer apply) {
        this.counters = counters;
        this.cores = cores;
        this.current = current;
        this.apply = apply;
        this.pendingTarget = current;
        mark();
    }

    /**
     * The governor the environment asks for, if any: none when it says off or a fixed number (which is applied here),
     * or when /proc/stat does not describe the cores this JVM may use (a container's CPU quota, another OS).
     */
    public static Optional<CpuThreads> fromEnvironment() {
        String setting = setting();
        if (setting.equals("off")) return Optional.empty();
        if (!setting.equals("auto")) {
            JniUtils.setNumThreads(fixedCount(setting));
            return Optional.empty();
        }
        Counters proc = new ProcCounters();
        int cores = Runtime.getRuntime().availableProcessors();
        if (cores < 2 || proc.statCpus() != cores || proc.machineBusyTicks() < 0 || proc.ownTicks() < 0) return Optional.empty();
        return Optional.of(new CpuThreads(proc, cores, Math.min(cores, JniUtils.getNumThreads()), JniUtils::setNumThreads));
    }

    /** Refuses a bad setting before minutes of loading, not after them. */
    public static void checkSetting() {
        String setting = setting();
        if (!setting.equals("auto") && !setting.equals("off")) fixedCount(setting);
    }

    static String setting() {
        String s = System.getProperty("workbench.threads", Optional.ofNullable(System.getenv("WORKBENCH_THREADS")).orElse("auto"));
        return s.trim().toLowerCase(java.util.Locale.ROOT);
    }

    static int fixedCount(String setting) {
        try {
            int n = Integer.parseInt(setting);
            if (n >= 1) return n;
        } catch (NumberFormatException e) {
            // falls through to the message
        }
        throw new DeviceException("WORKBENCH_THREADS (or -Dworkbench.threads) is '" + setting + "'; expected auto, off or a number of threads >= 1");
    }

    public int current() { return current; }

    /**
     * Called between steps: once at least {@link #MIN_WINDOW_NANOS} have passed, measures the cores other processes used
     * and moves the count to the cores they left free, when two windows in a row agree (so one burst does not flap it).
     */
    public Optional<Change> adjust() {
        long now = counters.nanoTime();
        if (now - lastNanos < MIN_WINDOW_NANOS) return Optional.empty();
        long busy = counters.machineBusyTicks();
        long own = counters.ownTicks();
        if (busy < 0 || own < 0) return Optional.empty();
        double seconds = (now - lastNanos) / 1e9;
        double others = Math.max(0, ((busy - lastBusy) - (own - lastOwn)) / (TICKS_PER_SECOND * seconds));
        lastBusy = busy;
        lastOwn = own;
        lastNanos = now;
        int target = target(cores, others);
        boolean confirmed = target == pendingTarget;
        pendingTarget = target;
        if (target == current || !confirmed) return Optional.empty();
        Change change = new Change(current, target, others, cores);
        apply.accept(target);
        current = target;
        return Optional.of(change);
    }

    /** The cores left free, rounded: a process busy 0.6 of a core takes it, one busy 0.4 leaves it; at least one. */
    static int target(int cores, double othersBusy) {
        return (int) Math.max(1, Math.min(cores, Math.round(cores - othersBusy)));
    }

    private void mark() {
        lastBusy = counters.machineBusyTicks();
        lastOwn = counters.ownTicks();
        lastNanos = counters.nanoTime();
    }

    /** USER_HZ: what Linux reports /proc tick counts in on every architecture it ships for. */
    static final double TICKS_PER_SECOND = 100;

    /** /proc/stat's first line and /proc/self/stat. */
    static final class ProcCounters implements Counters {
        @Override
        public long machineBusyTicks() {
            try {
                String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
                // cpu user nice system idle iowait irq softirq steal ...: busy is user + nice + system + irq + softirq.
                // Not steal: on a VM the hypervisor's share comes and goes within a second and fewer threads do not
                // get it back; a process beside us stays and does.
                long busy = 0;
                for (int i : new int[] {1, 2, 3, 6, 7}) busy += Long.parseLong(f[i]);
                return busy;
            } catch (IOException | RuntimeException e) {
                return -1;
            }
        }

        @Override
        public long ownTicks() {
            try {
                String s = Files.readString(Path.of("/proc/self/stat"));
                // fields after the command name (which may hold spaces, inside parentheses): state is field 3, utime 14, stime 15
                String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
                return Long.parseLong(f[11]) + Long.parseLong(f[12]);
            } catch (IOException | RuntimeException e) {
                return -1;
            }
        }

        @Override
        public int statCpus() {
            try {
                List<String> lines = Files.readAllLines(Path.of("/proc/stat"));
                return (int) lines.stream().filter(l -> l.matches("cpu\\d+\\s.*")).count();
            } catch (IOException | RuntimeException e) {
                return 0;
            }
        }

        @Override
        public long nanoTime() { return System.nanoTime(); }
    }
}
