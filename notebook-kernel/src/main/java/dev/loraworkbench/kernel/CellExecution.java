package dev.loraworkbench.kernel;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdk.jshell.execution.DirectExecutionControl;
import jdk.jshell.spi.ExecutionControl;
import jdk.jshell.spi.ExecutionControlProvider;
import jdk.jshell.spi.ExecutionEnv;

/**
 * Runs JShell snippets in this JVM (so they see the workbench classes on the class path) and keeps each snippet's
 * value as an object: JShell's own local engine hands values back only as strings, and a chart must reach the
 * renderer as a chart. Snippets run on a worker thread so an interrupt request can cancel a running cell.
 */
final class CellExecution extends DirectExecutionControl {
    private final ExecutorService worker = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "notebook-cell");
        t.setDaemon(true);
        return t;
    });
    private volatile Future<Object> running;
    private Object lastValue;

    /** The value of the snippet that ran last (null if it had none), handed over once. */
    Object takeValue() {
        Object v = lastValue;
        lastValue = null;
        return v;
    }

    /** Cancels the running cell: the worker thread gets an interrupt, and the cell fails with "interrupted". */
    void interrupt() {
        Future<Object> f = running;
        if (f != null) f.cancel(true);
    }

    @Override
    protected String invoke(Method doit) throws Exception {
        lastValue = null;
        Future<Object> f = worker.submit(() -> doit.invoke(null));
        running = f;
        try {
            lastValue = f.get();
        } catch (ExecutionException e) {
            // DirectExecutionControl turns an InvocationTargetException into the user's exception, with its own stack
            Throwable cause = e.getCause();
            throw cause instanceof InvocationTargetException ite ? ite : new InvocationTargetException(cause);
        } catch (CancellationException e) {
            throw new InvocationTargetException(new InterruptedException("cell interrupted"));
        } finally {
            running = null;
        }
        return ""; // JShell's string form of the value is never shown: the kernel renders lastValue
    }

    @Override
    public void stop() {
        interrupt();
    }

    @Override
    public void close() {
        worker.shutdownNow();
        super.close();
    }

    /** Hands this one instance to JShell. */
    ExecutionControlProvider provider() {
        return new ExecutionControlProvider() {
            @Override
            public String name() { return "workbench-notebook"; }

            @Override
            public ExecutionControl generate(ExecutionEnv env, Map<String, String> parameters) { return CellExecution.this; }
        };
    }
}
