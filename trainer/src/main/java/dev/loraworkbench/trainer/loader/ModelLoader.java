package dev.loraworkbench.trainer.loader;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.loraworkbench.datasets.TokenizerFiles;
import dev.loraworkbench.trainer.device.ComputeDevice;
import dev.loraworkbench.trainer.device.HalfPrecision;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.ProgressBars;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.model.LinearLoader;
import dev.loraworkbench.trainer.quant.Quantization;
import dev.loraworkbench.trainer.quant.QuantizedLinear;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;

/**
 * The one way a model gets into memory (training, generate / chat / logits, benchmarks): checkpoint + quantization +
 * compute dtype + device + adapter -> a {@link LoadedModel}. Each projection is bound here, once: dense or 4-bit,
 * then wrapped by the adapter's LoRA where it has a pair.
 */
public final class ModelLoader {
    private static final long PROGRESS_BAR_BYTES = 500_000_000L;

    private ModelLoader() {}

    /** @param log told one line about what loads (model, storage, compute, device, adapter) before the weights do; null for none */
    public static LoadedModel load(ModelSpec spec, PrintStream log) {
        HfCheckpoint ckpt = HfCheckpoint.open(spec.dir());
        NDManager manager = null;
        try {
            ckpt.config().checkSequenceLength(spec.longestSequence());
            checkTokenizerFits(spec.dir(), ckpt.config().vocabSize());
            Device device = ComputeDevice.resolve(spec.device());
            HalfPrecision.require(spec.computeDtype(), device); // before minutes of loading, not after
            manager = NDManager.newBaseManager(device, "PyTorch");
            if (log != null) {
                Quantization q = spec.quantization();
                log.printf("model    %s (%s base, %s compute, %s)%s%n", spec.dir(), q == null ? "fp32" : q.name(),
                        spec.computeDtype().name().toLowerCase(Locale.ROOT), ComputeDevice.name(device),
                        spec.adapter() instanceof AdapterSource.Saved s ? " + adapter " + s.dir() : "");
            }
            DataType compute = HalfPrecision.dataType(spec.computeDtype());
            // frozen embeddings and lm_head in the compute dtype; full training updates them, in fp32
            DataType tables = spec.adapter() instanceof AdapterSource.FullModel ? DataType.FLOAT32 : compute;
            DecoderWeights base = weights(ckpt, manager, spec.quantization(), compute, tables);
            if (spec.adapter() instanceof AdapterSource.FullModel) base.tensors().values().forEach(w -> w.setRequiresGradient(true));
            LoraAdapter adapter = adapter(spec.adapter(), ckpt, manager);
            Decoder decoder = new Decoder(ckpt.config(), adapter == null ? base : adapter.applyTo(base));
            return new LoadedModel(spec.dir(), ckpt, manager, decoder, adapter);
        } catch (RuntimeException e) {
            if (manager != null) manager.close();
            ckpt.close();
            throw e;
        }
    }

    /**
     * A tokenizer whose ids reach past vocab_size would index past the embeddings (an engine error in generate, NaN in
     * training): refused with the two numbers before anything loads. Nothing to check without a tokenizer.json.
     */
    static void checkTokenizerFits(Path modelDir, int vocabSize) {
        Path tokenizer = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokenizer)) return;
        int largest = TokenizerFiles.largestId(tokenizer);
        if (largest >= vocabSize) {
            throw new CheckpointFormatException(tokenizer + " has token ids up to " + largest + " but config.json's vocab_size is " + vocabSize
                    + ": the embeddings have no row for ids >= " + vocabSize + ". Use the tokenizer files that came with this model");
        }
    }

    private static LoraAdapter adapter(AdapterSource source, HfCheckpoint ckpt, NDManager manager) {
        if (source instanceof AdapterSource.Saved saved) return PeftFormat.read(saved.dir(), ckpt.config(), manager);
        if (!(source instanceof AdapterSource.Trainable t)) return null;
        LoraAdapter lora = t.checkpoint() == null
                ? LoraAdapter.init(ckpt.config(), t.settings(), manager, t.seed())
                : PeftFormat.read(t.checkpoint(), ckpt.config(), manager);
        lora.parameters().forEach(p -> p.setRequiresGradient(true));
        return lora;
    }

    /** fp32 base weights. */
    public static DecoderWeights weights(HfCheckpoint ckpt, NDManager manager) {
        return weights(ckpt, manager, null, DataType.FLOAT32);
    }

    /** Base weights, 4-bit with {@code q} (null: dense), fp32 base weights. */
    public static DecoderWeights weights(HfCheckpoint ckpt, NDManager manager, Quantization q) {
        return weights(ckpt, manager, q, DataType.FLOAT32);
    }

    /**
     * Base weights with the projections 4-bit ({@code q}) or dense (null), their matmuls in {@code computeType}; a
     * progress bar when loading takes a while (a 32B checkpoint: minutes of reading and quantizing).
     */
    public static DecoderWeights weights(HfCheckpoint ckpt, NDManager manager, Quantization q, DataType computeType) {
        return weights(ckpt, manager, q, computeType, computeType);
    }

    /** As above, with embeddings and lm_head stored in {@code tableType} (fp32, or the half compute type). */
    public static DecoderWeights weights(HfCheckpoint ckpt, NDManager manager, Quantization q, DataType computeType, DataType tableType) {
        LinearLoader linears = q == null ? LinearLoader.dense(manager, computeType) : QuantizedLinear.loader(q, manager, computeType);
        long bytes = ckpt.storedBytes();
        if (bytes < PROGRESS_BAR_BYTES) return DecoderWeights.load(ckpt, manager, linears, tableType, n -> { });
        try (ProgressBar bar = ProgressBars.of(q == null ? "load" : "load+" + q.name(), 0, bytes / 1_000_000, " MB", 1)) {
            long[] done = {0};
            return DecoderWeights.load(ckpt, manager, linears, tableType, n -> {
                done[0] += n;
                bar.stepTo(done[0] / 1_000_000);
            });
        }
    }
}
