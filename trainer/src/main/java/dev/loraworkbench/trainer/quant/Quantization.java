package dev.loraworkbench.trainer.quant;

/** How a model's decoder projections are stored when loaded: 4-bit with this codebook and block size. */
public record Quantization(Codebook codebook, int blockSize, boolean doubleQuant) {
    /** "nf4" / "fp4", as recipes and options spell it. */
    public String name() {
        return codebook.name().toLowerCase(java.util.Locale.ROOT);
    }
}
