package dev.loraworkbench.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.loraworkbench.trainer.io.DType;
import dev.loraworkbench.trainer.io.StreamingSafetensorsWriter;
import dev.loraworkbench.trainer.lora.LoraAdapter;
import dev.loraworkbench.trainer.lora.PeftFormat;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.runs.RunDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What a run trains and writes at every checkpoint, into best/ and at the end: a LoRA adapter (PEFT files, in the run
 * directory itself when it finishes) or, with training.method: full, the whole model (a Hugging Face checkpoint: config,
 * fp32 safetensors, tokenizer files; in the run's model/ directory when it finishes).
 */
public sealed interface TrainedWeights {
    /** The arrays AdamW updates. */
    NDList parameters();

    long parameterCount();

    /** Writes the weights (and what makes them loadable) into {@code dir}, each file atomically. */
    void write(Path dir) throws IOException;

    /** The files {@link #write} puts into a directory. */
    List<String> files();

    /** Where a finished run leaves them. */
    Path finalDir(Path runDir);

    /** The file a user points tools at, for the summary line. */
    Path finalFile(Path runDir);

    /** A LoRA adapter on a frozen base. */
    record Lora(LoraAdapter adapter, Path baseModel) implements TrainedWeights {
        @Override public NDList parameters() { return adapter.parameters(); }

        @Override public long parameterCount() { return adapter.parameterCount(); }

        @Override public void write(Path dir) throws IOException { PeftFormat.write(adapter, dir, baseModel.toString()); }

        @Override public List<String> files() { return List.of(PeftFormat.WEIGHTS, PeftFormat.CONFIG); }

        @Override public Path finalDir(Path runDir) { return runDir; }

        @Override public Path finalFile(Path runDir) { return runDir.resolve(PeftFormat.WEIGHTS); }
    }

    /**
     * Every weight of the model, fp32. Written as a checkpoint any Hugging Face loader (and this workbench's
     * {@code model.path}) takes as a base model: the weights streamed one tensor at a time, config.json with
     * torch_dtype float32, and the base model's generation config and tokenizer files beside them.
     */
    record Full(DecoderWeights weights, Path baseModel) implements TrainedWeights {
        @Override
        public NDList parameters() {
            NDList out = new NDList();
            weights.tensors().forEach((name, w) -> {
                w.setName(name); // AdamW's state file keys its moments by name
                out.add(w);
            });
            return out;
        }

        @Override public long parameterCount() { return weights.parameterCount(); }

        @Override
        public void write(Path dir) throws IOException {
            Files.createDirectories(dir);
            Map<String, NDArray> tensors = weights.tensors();
            List<StreamingSafetensorsWriter.Spec> specs = new ArrayList<>();
            tensors.forEach((name, w) -> specs.add(new StreamingSafetensorsWriter.Spec(name, DType.F32, w.getShape().getShape())));
            try (var out = new StreamingSafetensorsWriter(dir.resolve(RunDirectory.MODEL_WEIGHTS), specs, Map.of("format", "pt"))) {
                for (var e : tensors.entrySet()) out.write(e.getKey(), e.getValue().toFloatArray());
            }
            HfCheckpoint.writeCompanions(baseModel, dir, "float32");
        }

        @Override
        public List<String> files() {
            List<String> files = new ArrayList<>(List.of(RunDirectory.MODEL_WEIGHTS, "config.json"));
            for (String f : HfCheckpoint.COMPANION_FILES) if (Files.isRegularFile(baseModel.resolve(f))) files.add(f);
            return files;
        }

        @Override public Path finalDir(Path runDir) { return runDir.resolve(RunDirectory.MODEL_DIR); }

        @Override public Path finalFile(Path runDir) { return finalDir(runDir); }
    }
}
