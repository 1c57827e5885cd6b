package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.datasets.Message;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.generate.Generator;
import dev.loraworkbench.trainer.generate.Reply;
import dev.loraworkbench.trainer.generate.Sampler;
import dev.loraworkbench.trainer.loader.LoadedModel;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Answer one prompt: rendered with the model's chat template (unless --raw), decoded with a KV cache, streamed to stdout.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin ModelOptions model;
    @Mixin SamplingOptions sampling;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "the user message (or the raw text with --raw)")
    String prompt;

    @Option(names = "--system", paramLabel = "TEXT", description = "system prompt")
    String system;

    @Option(names = "--raw", description = "feed --prompt as plain text, without the chat template")
    boolean raw;

    @Override
    public Integer call() {
        sampling.sampler(); // bad sampling options fail before minutes of loading
        try (LoadedModel loaded = model.open(); TokenizerFiles tokenizer = model.tokenizer(loaded)) {
            List<Message> messages = new ArrayList<>();
            if (system != null) messages.add(Message.system(system));
            messages.add(Message.user(prompt));
            String text = raw ? prompt : tokenizer.template().render(messages, true);
            Reply reply = sampling.run(loaded, tokenizer, text, System.out);
            System.out.println();
            System.err.println(reply.summary());
        }
        return 0;
    }

    /** Decoding settings shared by generate and chat. */
    static final class SamplingOptions {
        @Option(names = "--max-new-tokens", defaultValue = "256", description = "default ${DEFAULT-VALUE}") int maxNewTokens;
        @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default ${DEFAULT-VALUE})") double temperature;
        @Option(names = "--top-p", defaultValue = "1.0", description = "nucleus sampling mass (default ${DEFAULT-VALUE})") double topP;
        @Option(names = "--seed", defaultValue = "42", description = "sampling seed (default ${DEFAULT-VALUE})") long seed;

        Sampler sampler() {
            if (maxNewTokens < 1) throw new WorkbenchCli.UserInputException("--max-new-tokens " + maxNewTokens + ": expected at least 1");
            if (temperature < 0) throw new WorkbenchCli.UserInputException("--temperature " + temperature + ": expected 0 (greedy) or more");
            if (topP <= 0 || topP > 1) throw new WorkbenchCli.UserInputException("--top-p " + topP + ": expected a value in (0, 1]");
            return new Sampler(temperature, topP, seed);
        }

        /** Generates from rendered text, printing the reply as it grows. */
        Reply run(LoadedModel loaded, TokenizerFiles tokenizer, String text, PrintStream out) {
            try (Generator.Session session = new Generator(loaded.decoder(), loaded.manager()).session()) {
                return run(loaded, tokenizer, text, out, sampler(), session);
            }
        }

        /**
         * As above in a chat: one sampler, so turns draw from one seeded stream rather than the same draws each turn,
         * and one session, so each turn computes only what follows the conversation's cached prefix.
         */
        Reply run(LoadedModel loaded, TokenizerFiles tokenizer, String text, PrintStream out, Sampler sampler, Generator.Session session) {
            return Reply.generate(loaded, tokenizer, text, maxNewTokens, sampler, session, piece -> {
                out.print(piece);
                out.flush();
            });
        }
    }
}
