package dev.loraworkbench.trainer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "notebook", mixinStandardHelpOptions = true, description = "Jupyter notebooks with the workbench on the class path.",
        subcommands = {NotebookCommand.InstallKernel.class})
final class NotebookCommand {
    static final String KERNEL_NAME = "lora-workbench-java";
    static final String DISPLAY_NAME = "LoRA Workbench (Java)";
    static final String KERNEL_MAIN = "dev.loraworkbench.kernel.KernelMain";

    @Command(name = "install-kernel", mixinStandardHelpOptions = true,
            description = "Install the \"" + DISPLAY_NAME + "\" Jupyter kernel (" + KERNEL_NAME + "): JShell with this checkout's built jars.")
    static final class InstallKernel implements Callable<Integer> {
        @Option(names = "--user", description = "into your Jupyter data dir (~/.local/share/jupyter) instead of the system one")
        boolean user;
        @Option(names = "--prefix", paramLabel = "DIR", description = "into DIR/share/jupyter/kernels (add DIR/share/jupyter to JUPYTER_PATH)")
        Path prefix;
        @Option(names = "--jupyter", paramLabel = "CMD", description = "jupyter command (default: /usr/bin/jupyter when present, else jupyter on PATH)")
        String jupyter;
        @Option(names = "--workbench-home", paramLabel = "DIR", description = "checkout whose built jars the kernel runs (default: the one this CLI runs from)")
        Path home;

        @Override
        public Integer call() throws Exception {
            if (user && prefix != null) throw new WorkbenchCli.UserInputException("--user and --prefix: choose one");
            Path root = (home != null ? home : codeHome()).toAbsolutePath().normalize();
            Path spec = Files.createTempDirectory("lora-workbench-kernel");
            try {
                Files.writeString(spec.resolve("kernel.json"), new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(kernelSpec(root)));
                List<String> cmd = new ArrayList<>(List.of(jupyterCommand(), "kernelspec", "install", "--name", KERNEL_NAME, "--replace"));
                if (user) cmd.add("--user");
                if (prefix != null) cmd.addAll(List.of("--prefix", prefix.toAbsolutePath().toString()));
                cmd.add(spec.toString());
                int code = runEchoing(cmd);
                if (code != 0) throw new WorkbenchCli.UserInputException(String.join(" ", cmd) + " failed (exit " + code + ")" + (user || prefix != null ? "" : "; try --user"));
            } finally {
                Files.deleteIfExists(spec.resolve("kernel.json"));
                Files.deleteIfExists(spec);
            }
            System.out.println("kernel \"" + DISPLAY_NAME + "\" installed; open the walkthroughs with: jupyter notebook " + root.resolve("notebooks"));
            return 0;
        }

        /**
         * kernel.json: java with the kernel's and the trainer's jars (absolute paths), offline, started the way ./workbench
         * starts the CLI: through bash, which first sources trainer/scripts/malloc.env (glibc kept as a caching allocator) and
         * .workbench/engine.env (the GPU set-up of setup-spark.sh) and adds WORKBENCH_JAVA_OPTS, since Jupyter starts kernels
         * with its own environment.
         */
        static Map<String, Object> kernelSpec(Path root) {
            List<Path> required = List.of(root.resolve("notebook-kernel/target/workbench-kernel.jar"), root.resolve("notebook-kernel/target/lib"),
                    root.resolve("trainer/target/workbench.jar"), root.resolve("trainer/target/lib"));
            for (Path p : required) {
                if (!Files.exists(p)) {
                    throw new WorkbenchCli.UserInputException(p + " is missing: build first (cd " + root + " && mvn -B -DskipTests package; ./workbench does it)");
                }
            }
            String classpath = String.join(File.pathSeparator, required.get(0).toString(), required.get(1) + "/*",
                    required.get(2).toString(), required.get(3) + "/*");
            Map<String, Object> spec = new LinkedHashMap<>();
            String start = "[ -f \"$6\" ] && . \"$6\"; [ -f \"$1\" ] && . \"$1\"; exec \"$2\" ${WORKBENCH_JAVA_OPTS:-} -Djava.awt.headless=true -Dai.djl.offline=true "
                    + "\"-Dworkbench.home=$3\" -cp \"$4\" \"$5\" \"$0\"";
            spec.put("argv", List.of("/bin/bash", "-c", start, "{connection_file}", root.resolve(".workbench/engine.env").toString(),
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(), root.toString(), classpath, KERNEL_MAIN,
                    root.resolve("trainer/scripts/malloc.env").toString()));
            spec.put("display_name", DISPLAY_NAME);
            spec.put("language", "java");
            spec.put("interrupt_mode", "message"); // the JVM would take SIGINT as "exit"; the kernel cancels the cell instead
            return spec;
        }

        /** trainer/target/workbench.jar (or trainer/target/classes) -> the checkout three levels up. */
        private static Path codeHome() throws Exception {
            Path code = Path.of(WorkbenchCli.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return code.getParent().getParent().getParent();
        }

        private String jupyterCommand() {
            if (jupyter != null) return jupyter;
            return Files.isExecutable(Path.of("/usr/bin/jupyter")) ? "/usr/bin/jupyter" : "jupyter"; // pyenv's python may come first on PATH
        }

        /** Runs cmd with its output copied to System.out (which a notebook captures; inheritIO would bypass it). */
        private static int runEchoing(List<String> cmd) throws IOException, InterruptedException {
            Process p;
            try {
                p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            } catch (IOException e) {
                throw new WorkbenchCli.UserInputException(cmd.get(0) + " not found: install Jupyter (README: Notebooks) or pass --jupyter CMD");
            }
            try (InputStream in = p.getInputStream()) {
                in.transferTo(System.out);
            }
            return p.waitFor();
        }
    }
}
