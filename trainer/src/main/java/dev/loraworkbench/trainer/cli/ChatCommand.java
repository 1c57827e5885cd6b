package dev.loraworkbench.trainer.cli;

import dev.loraworkbench.datasets.Message;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.generate.Generator;
import dev.loraworkbench.trainer.loader.LoadedModel;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "chat", mixinStandardHelpOptions = true,
        description = "Talk to the model: each line you type is a user turn, rendered with the whole conversation through the chat template. /reset starts over, /exit (or end of input) quits.")
final class ChatCommand implements Callable<Integer> {
    @Mixin ModelOptions model;
    @Mixin GenerateCommand.SamplingOptions sampling;

    @Option(names = "--system", paramLabel = "TEXT", description = "system prompt")
    String system;

    @Override
    public Integer call() throws Exception {
        sampling.sampler(); // bad sampling options fail before minutes of loading
        try (LoadedModel loaded = model.open(); TokenizerFiles tokenizer = model.tokenizer(loaded);
             Generator.Session session = new Generator(loaded.decoder(), loaded.manager()).session()) {
            List<Message> history = new ArrayList<>();
            if (system != null) history.add(Message.system(system));
            int fixed = history.size();
            var sampler = sampling.sampler();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            System.err.println("chat with " + loaded.dir() + (model.adapter == null ? "" : " + " + model.adapter) + "  (/reset, /exit)");
            while (true) {
                System.out.print("> ");
                System.out.flush();
                String line = in.readLine();
                if (line == null || line.strip().equals("/exit")) break;
                if (line.isBlank()) continue;
                if (line.strip().equals("/reset")) {
                    history.subList(fixed, history.size()).clear();
                    System.err.println("(conversation cleared)");
                    continue;
                }
                history.add(Message.user(line));
                var reply = sampling.run(loaded, tokenizer, tokenizer.template().render(history, true), System.out, sampler, session);
                System.out.println();
                System.err.println(reply.summary());
                history.add(Message.assistant(reply.text()));
            }
        }
        return 0;
    }
}
