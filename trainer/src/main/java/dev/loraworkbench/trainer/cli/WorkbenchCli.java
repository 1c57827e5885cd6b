package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.datasets.UserError;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of ./workbench. Commands are thin: parse, call one room, print. */
@Command(name = "workbench", mixinStandardHelpOptions = true, version = "LoRA Workbench 0.1.0",
        description = "Fine-tune language models with LoRA on one machine.",
        subcommands = {TrainCommand.class, ResumeCommand.class, EvalCommand.class, PlanCommand.class, RunsCommand.class, ExportCommand.class, DataCommand.class, RecipeCommand.class, InitModelCommand.class, LogitsCommand.class, GenerateCommand.class, ChatCommand.class, BenchCommand.class, DoctorCommand.class,
                NotebookCommand.class,
                CommandLine.HelpCommand.class})
public final class WorkbenchCli {
    /** Exit code for user mistakes (bad recipe, data, checkpoint): a clear message, no stack trace. */
    static final int USER_ERROR = 2;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        CommandLine cli = new CommandLine(new WorkbenchCli());
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (isUserError(e)) {
                cmd.getErr().println("error: " + e.getMessage().replace("\n", "\nerror: "));
                return USER_ERROR;
            }
            Throwable io = e instanceof java.io.UncheckedIOException u ? u.getCause() : e;
            if (io instanceof java.io.IOException) { // disk full, permissions, a vanished file: what and where, not a stack trace
                cmd.getErr().println("error: " + io.getMessage() + (io instanceof java.nio.file.FileSystemException ? "" : " (" + io.getClass().getSimpleName() + ")"));
                return USER_ERROR;
            }
            throw e;
        });
        return cli.execute(args);
    }

    static boolean isUserError(Exception e) {
        return e instanceof UserError;
    }

    /** {@code out} as the file an option names, checked before any work: a directory there is a mistake, not a crash at the end. */
    static Path fileToWrite(String option, Path out, String example) {
        if (java.nio.file.Files.isDirectory(out)) {
            throw new UserInputException(option + " " + out + " is a directory; give a file name, e.g. " + out.resolve(example));
        }
        return out;
    }

    /** A command-line mistake detected by a command itself. */
    static final class UserInputException extends UserError {
        UserInputException(String message) { super(message); }
    }
}
