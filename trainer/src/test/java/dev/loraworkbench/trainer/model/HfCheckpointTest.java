package dev.loraworkbench.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import dev.loraworkbench.trainer.io.CheckpointFormatException;
import dev.loraworkbench.trainer.io.SafetensorsFile;
import dev.loraworkbench.trainer.io.SafetensorsWriter;
import dev.loraworkbench.trainer.io.TensorInfo;
import dev.loraworkbench.trainer.tensor.Tensors;
import dev.loraworkbench.trainer.testing.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfCheckpointTest {
    @TempDir Path dir;

    /** Copies the golden qwen2 model, split over two shards with an index, and checks the logits are unchanged. */
    @Test
    void shardedCheckpointGivesTheSameLogits() throws Exception {
        Path golden = Fixtures.golden("qwen2-golden").resolve("model");
        Path sharded = Files.createDirectories(dir.resolve("sharded"));
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) Files.copy(golden.resolve(f), sharded.resolve(f));
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        try (SafetensorsFile f = SafetensorsFile.open(golden.resolve("model.safetensors"))) {
            List<TensorInfo> infos = new ArrayList<>(f.tensors().values());
            SafetensorsWriter[] shards = {new SafetensorsWriter(), new SafetensorsWriter()};
            for (int i = 0; i < infos.size(); i++) {
                TensorInfo t = infos.get(i);
                byte[] data = new byte[(int) (t.end() - t.begin())];
                f.bytes(t.name()).get(data);
                shards[i % 2].put(t.name(), t.dtype(), t.shape(), data);
                index.append(i == 0 ? "" : ",").append('"').append(t.name()).append("\": \"model-0000").append(i % 2 + 1).append("-of-00002.safetensors\"");
            }
            shards[0].write(sharded.resolve("model-00001-of-00002.safetensors"));
            shards[1].write(sharded.resolve("model-00002-of-00002.safetensors"));
        }
        Files.writeString(sharded.resolve("model.safetensors.index.json"), index.append("}}").toString());
        try (NDManager m = NDManager.newBaseManager("PyTorch"); HfCheckpoint a = HfCheckpoint.open(golden); HfCheckpoint b = HfCheckpoint.open(sharded)) {
            var ids = Tensors.of(m, new long[] {3, 14, 15, 92}, new ai.djl.ndarray.types.Shape(1, 4));
            float[] one = new Decoder(a.config(), DecoderWeights.load(a, m)).logits(ids, new int[] {4}, false).toFloatArray();
            float[] two = new Decoder(b.config(), DecoderWeights.load(b, m)).logits(ids, new int[] {4}, false).toFloatArray();
            assertArrayEquals(one, two);
        }
    }

    @Test
    void missingAndUnexpectedTensorsAreNamed() throws Exception {
        Path golden = Fixtures.golden("llama-golden").resolve("model");
        Path broken = Files.createDirectories(dir.resolve("broken"));
        Files.copy(golden.resolve("config.json"), broken.resolve("config.json"));
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(golden.resolve("model.safetensors"))) {
            for (TensorInfo t : f.tensors().values()) {
                if (t.name().equals("model.layers.1.mlp.up_proj.weight")) continue;
                byte[] data = new byte[(int) (t.end() - t.begin())];
                f.bytes(t.name()).get(data);
                w.put(t.name().equals("model.norm.weight") ? "model.final_norm.weight" : t.name(), t.dtype(), t.shape(), data);
            }
        }
        w.write(broken.resolve("model.safetensors"));
        try (NDManager m = NDManager.newBaseManager("PyTorch"); HfCheckpoint c = HfCheckpoint.open(broken)) {
            String msg = assertThrows(CheckpointFormatException.class, () -> DecoderWeights.load(c, m)).getMessage();
            assertTrue(msg.contains("missing tensors: [model.layers.1.mlp.up_proj.weight, model.norm.weight]"), msg);
            assertTrue(msg.contains("unexpected tensors: [model.final_norm.weight]"), msg);
        }
        Files.writeString(broken.resolve("config.json"), Files.readString(golden.resolve("config.json")).replace("\"llama\"", "\"gpt2\""));
        String msg = assertThrows(CheckpointFormatException.class, () -> HfCheckpoint.open(broken)).getMessage();
        assertTrue(msg.contains("model_type 'gpt2' is not supported"), msg);
    }
}
