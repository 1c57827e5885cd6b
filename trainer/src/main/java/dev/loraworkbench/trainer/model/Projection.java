package dev.loraworkbench.trainer.model;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The seven linear projections of a decoder layer, the one place that names them: their Hugging Face module name,
 * the block they sit in, their [in, out] features for a config, and whether a model with q/k/v bias gives them one.
 */
public enum Projection {
    Q("q_proj", Block.SELF_ATTN, true),
    K("k_proj", Block.SELF_ATTN, true),
    V("v_proj", Block.SELF_ATTN, true),
    O("o_proj", Block.SELF_ATTN, false),
    GATE("gate_proj", Block.MLP, false),
    UP("up_proj", Block.MLP, false),
    DOWN("down_proj", Block.MLP, false);

    public enum Block {
        SELF_ATTN("self_attn"), MLP("mlp");

        final String hfName;

        Block(String hfName) { this.hfName = hfName; }
    }

    private final String hfName;
    private final Block block;
    private final boolean qkvBias;

    Projection(String hfName, Block block, boolean qkvBias) {
        this.hfName = hfName;
        this.block = block;
        this.qkvBias = qkvBias;
    }

    /** The module's name in HF checkpoints and PEFT target_modules, e.g. "q_proj". */
    public String hfName() { return hfName; }

    public Block block() { return block; }

    /** True when this projection carries a bias in models whose config has one on q/k/v (Qwen2). */
    public boolean hasBias(ModelConfig c) { return qkvBias && c.qkvBias(); }

    public int in(ModelConfig c) {
        return switch (this) {
            case Q, K, V, GATE, UP -> c.hiddenSize();
            case O -> c.numHeads() * c.headDim();
            case DOWN -> c.intermediateSize();
        };
    }

    public int out(ModelConfig c) {
        return switch (this) {
            case Q -> c.numHeads() * c.headDim();
            case K, V -> c.numKvHeads() * c.headDim();
            case O, DOWN -> c.hiddenSize();
            case GATE, UP -> c.intermediateSize();
        };
    }

    /** HF module path, e.g. "model.layers.3.self_attn.q_proj". */
    public String modulePath(int layer) {
        return "model.layers." + layer + "." + block.hfName + "." + hfName;
    }

    /** All seven HF names in layer order: what "all-linear" means. */
    public static final List<String> NAMES = Arrays.stream(values()).map(Projection::hfName).toList();

    public static Optional<Projection> byName(String hfName) {
        return Arrays.stream(values()).filter(p -> p.hfName.equals(hfName)).findFirst();
    }

    /** Target modules as a recipe or PEFT config gives them: ["all-linear"] stands for all seven. */
    public static List<String> expandTargets(List<String> targets) {
        return targets.equals(List.of("all-linear")) ? NAMES : targets;
    }
}
