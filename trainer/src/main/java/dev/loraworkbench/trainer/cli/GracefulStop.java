package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.trainer.train.TrainingRun;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/** Ctrl-C during training: finish the current step, checkpoint and save the adapter, then let the JVM exit. */
final class GracefulStop {
    interface Training {
        TrainingRun.Outcome run(AtomicBoolean stop) throws Exception;
    }

    private GracefulStop() {}

    /** Runs the training; exit code 0 when it finished, 130 when a stop request ended it early. */
    static int run(Training training) throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            if (finished.getCount() == 0) return;
            stop.set(true);
            System.err.println("\nstopping after the current step; saving a checkpoint and the adapter (kill -9 aborts without saving)...");
            try {
                finished.await(); // a large model's step can take minutes: wait for it rather than lose it
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            return training.run(stop).interrupted() ? 130 : 0;
        } finally {
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook); // a notebook kernel trains many times in one JVM
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it returns at once now that training finished
            }
        }
    }
}
