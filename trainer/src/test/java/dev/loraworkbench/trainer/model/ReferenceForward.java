package dev.loraworkbench.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * A slow, independent decoder forward: plain loops over doubles, written from transformers' eager
 * Qwen2 / Llama / Mistral code (RMSNorm, rotate-half RoPE with llama3 / linear scaling, GQA, causal softmax,
 * SwiGLU, tied or untied head). It reads config.json itself and takes tensors as float arrays, so it
 * shares nothing with {@link Decoder} or {@link ModelConfig} but the file format.
 */
final class ReferenceForward {
    private final JsonNode c;
    private final Function<String, float[]> tensor;
    private final int hidden, heads, kvHeads, headDim, inter, layers, vocab;
    private final double eps;

    ReferenceForward(Path configJson, Function<String, float[]> tensor) throws IOException {
        this.c = new ObjectMapper().readTree(configJson.toFile());
        this.tensor = tensor;
        hidden = c.get("hidden_size").asInt();
        heads = c.get("num_attention_heads").asInt();
        kvHeads = c.path("num_key_value_heads").asInt(heads);
        headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
        inter = c.get("intermediate_size").asInt();
        layers = c.get("num_hidden_layers").asInt();
        vocab = c.get("vocab_size").asInt();
        eps = c.path("rms_norm_eps").asDouble(1e-6);
    }

    /** logits [T][vocab] for one unpadded sequence. */
    double[][] logits(int[] ids) {
        int t = ids.length;
        float[] embed = tensor.apply("model.embed_tokens.weight");
        double[][] x = new double[t][hidden];
        for (int p = 0; p < t; p++) for (int j = 0; j < hidden; j++) x[p][j] = embed[ids[p] * hidden + j];
        double[] invFreq = invFreq();
        boolean bias = c.get("model_type").asText().equals("qwen2") || c.path("attention_bias").asBoolean(false);
        for (int l = 0; l < layers; l++) {
            String pre = "model.layers." + l + ".";
            double[][] h = rmsNorm(x, tensor.apply(pre + "input_layernorm.weight"));
            double[][] q = linear(h, pre + "self_attn.q_proj", heads * headDim, bias);
            double[][] k = linear(h, pre + "self_attn.k_proj", kvHeads * headDim, bias);
            double[][] v = linear(h, pre + "self_attn.v_proj", kvHeads * headDim, bias);
            rope(q, heads, invFreq);
            rope(k, kvHeads, invFreq);
            double[][] attn = new double[t][heads * headDim];
            int groups = heads / kvHeads;
            for (int hd = 0; hd < heads; hd++) {
                int kvh = hd / groups;
                for (int i = 0; i < t; i++) {
                    double[] score = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double s = 0;
                        for (int d = 0; d < headDim; d++) s += q[i][hd * headDim + d] * k[j][kvh * headDim + d];
                        score[j] = s / Math.sqrt(headDim);
                        max = Math.max(max, score[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += score[j] = Math.exp(score[j] - max);
                    for (int j = 0; j <= i; j++) {
                        for (int d = 0; d < headDim; d++) attn[i][hd * headDim + d] += score[j] / sum * v[j][kvh * headDim + d];
                    }
                }
            }
            double[][] o = linear(attn, pre + "self_attn.o_proj", hidden, false);
            for (int p = 0; p < t; p++) for (int j = 0; j < hidden; j++) x[p][j] += o[p][j];
            double[][] h2 = rmsNorm(x, tensor.apply(pre + "post_attention_layernorm.weight"));
            double[][] gate = linear(h2, pre + "mlp.gate_proj", inter, false);
            double[][] up = linear(h2, pre + "mlp.up_proj", inter, false);
            for (int p = 0; p < t; p++) {
                for (int j = 0; j < inter; j++) gate[p][j] = gate[p][j] / (1 + Math.exp(-gate[p][j])) * up[p][j];
            }
            double[][] down = linear(gate, pre + "mlp.down_proj", hidden, false);
            for (int p = 0; p < t; p++) for (int j = 0; j < hidden; j++) x[p][j] += down[p][j];
        }
        double[][] out = rmsNorm(x, tensor.apply("model.norm.weight"));
        boolean tied = c.path("tie_word_embeddings").asBoolean(false);
        float[] head = tied ? embed : tensor.apply("lm_head.weight");
        double[][] logits = new double[t][vocab];
        for (int p = 0; p < t; p++) {
            for (int vv = 0; vv < vocab; vv++) {
                double s = 0;
                for (int j = 0; j < hidden; j++) s += out[p][j] * head[vv * hidden + j];
                logits[p][vv] = s;
            }
        }
        return logits;
    }

    private double[][] rmsNorm(double[][] x, float[] w) {
        double[][] y = new double[x.length][];
        for (int p = 0; p < x.length; p++) {
            double ms = 0;
            for (double v : x[p]) ms += v * v;
            double inv = 1 / Math.sqrt(ms / x[p].length + eps);
            y[p] = new double[x[p].length];
            for (int j = 0; j < x[p].length; j++) y[p][j] = x[p][j] * inv * w[j];
        }
        return y;
    }

    private double[][] linear(double[][] x, String name, int out, boolean bias) {
        float[] w = tensor.apply(name + ".weight");
        int in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int p = 0; p < x.length; p++) {
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int i = 0; i < in; i++) s += x[p][i] * w[o * in + i];
                y[p][o] = s;
            }
        }
        if (bias) {
            float[] b = tensor.apply(name + ".bias");
            for (double[] row : y) for (int o = 0; o < out; o++) row[o] += b[o];
        }
        return y;
    }

    /** In place, per head: first half / second half rotation (HF rotate_half). */
    private void rope(double[][] x, int nHeads, double[] invFreq) {
        int half = headDim / 2;
        for (int p = 0; p < x.length; p++) {
            for (int hd = 0; hd < nHeads; hd++) {
                int base = hd * headDim;
                for (int j = 0; j < half; j++) {
                    double angle = p * invFreq[j];
                    double a = x[p][base + j];
                    double b = x[p][base + j + half];
                    x[p][base + j] = a * Math.cos(angle) - b * Math.sin(angle);
                    x[p][base + j + half] = b * Math.cos(angle) + a * Math.sin(angle);
                }
            }
        }
    }

    /** transformers' _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters and _compute_llama3_parameters. */
    private double[] invFreq() {
        double theta = c.path("rope_theta").asDouble(10000);
        double[] inv = new double[headDim / 2];
        for (int j = 0; j < inv.length; j++) inv[j] = 1 / Math.pow(theta, 2.0 * j / headDim);
        JsonNode s = c.get("rope_scaling");
        if (s == null || s.isNull()) return inv;
        String type = s.hasNonNull("rope_type") ? s.get("rope_type").asText() : s.get("type").asText();
        double factor = s.get("factor").asDouble();
        if (type.equals("linear")) {
            for (int j = 0; j < inv.length; j++) inv[j] /= factor;
            return inv;
        }
        double low = s.get("low_freq_factor").asDouble(), high = s.get("high_freq_factor").asDouble();
        double old = s.get("original_max_position_embeddings").asDouble();
        for (int j = 0; j < inv.length; j++) {
            double wavelen = 2 * Math.PI / inv[j];
            double scaled = wavelen > old / low ? inv[j] / factor : inv[j];
            double smooth = (old / wavelen - low) / (high - low);
            boolean medium = !(wavelen < old / high) && !(wavelen > old / low);
            inv[j] = medium ? (1 - smooth) * scaled / factor + smooth * scaled : scaled;
        }
        return inv;
    }
}
