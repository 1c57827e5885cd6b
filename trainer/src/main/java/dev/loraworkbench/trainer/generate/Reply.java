package dev.loraworkbench.trainer.generate;

import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.datasets.UserError;
import dev.loraworkbench.trainer.loader.LoadedModel;
import java.util.function.Consumer;

/**
 * A model's answer to rendered text (a chat template's output, or raw text): the reply as text, what decoding measured,
 * and how many prompt tokens the session's KV cache already held.
 */
public record Reply(String text, Generator.Result result, int reusedTokens) {

    /**
     * Generates until a stop id of the model or {@code maxNewTokens}, handing each printable piece of the reply to
     * {@code pieces} as it grows (stop and other special tokens left out).
     *
     * @param session one per conversation: each turn computes only what follows the cached prefix
     */
    public static Reply generate(LoadedModel model, TokenizerFiles tokenizer, String text, int maxNewTokens, Sampler sampler,
                                 Generator.Session session, Consumer<String> pieces) {
        int[] ids = tokenizer.encode(text);
        if (ids.length == 0) throw new UserError("the prompt has no tokens");
        var stop = model.stopIds(tokenizer);
        TextStream reply = new TextStream(tokenizer, stop);
        Generator.Result r = session.generate(ids, maxNewTokens, sampler, stop, token -> {
            String piece = reply.accept(token);
            if (!piece.isEmpty()) pieces.accept(piece);
        });
        return new Reply(reply.text(), r, session.reused());
    }

    /** One line: tokens, why it stopped, prefill time, cache reuse, decoding speed. */
    public String summary() {
        return String.format("[%d tokens%s, prefill %.0f ms%s, %.1f tokens/s]", result.tokens().size(),
                result.stopped() ? ", stopped at eos" : ", hit --max-new-tokens", result.prefillNanos() / 1e6,
                reusedTokens > 0 ? " (" + reusedTokens + " cached tokens reused)" : "", result.tokensPerSecond());
    }
}
