package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.datasets.DatasetException;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.recipe.RecipeException;
import dev.loraworkbench.trainer.train.TrainingRun;
import picocli.CommandLine.Command;
import picocli.CommandLine;

/** Entry point of ./workbench. Commands are thin: parse, call one room, print. */
@Command(name = "workbench", mixinStandardHelpOptions = true, version = "LoRA Workbench 0.1.0",
        description = "Fine-tune language models with LoRA on one machine.",
        subcommands = {TrainCommand.class, ResumeCommand.class, PlanCommand.class, RunsCommand.class, ExportCommand.class, DataCommand.class, RecipeCommand.class, InitModelCommand.class, LogitsCommand.class, GenerateCommand.class, ChatCommand.class, BenchCommand.class, DoctorCommand.class,
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
            throw e;
        });
        return cli.execute(args);
    }

    static boolean isUserError(Exception e) {
        return e instanceof RecipeException || e instanceof DatasetException || e instanceof CheckpointFormatException
                || e instanceof TrainingRun.TrainingFailedException || e instanceof UserInputException
                || e instanceof dev.loraworkbench.trainer.device.DeviceException;
    }

    /** A command-line mistake detected by a command itself. */
    static final class UserInputException extends RuntimeException {
        UserInputException(String message) { super(message); }
    }
}
