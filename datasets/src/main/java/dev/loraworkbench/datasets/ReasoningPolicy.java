package dev.loraworkbench.datasets;

/**
 * How the last assistant reply of an example is trained for reasoning models (DeepSeek-R1 distills, Qwen3),
 * whose generation prompt opens a {@code <think>} block or whose template strips reasoning from replies.
 * <ul>
 *   <li>{@code TEMPLATE}: exactly what the chat template renders (DeepSeek-R1's drops everything up to the
 *       last {@code </think>}, so the model is trained to answer right after "&lt;｜Assistant｜&gt;" while inference
 *       prompts with "&lt;｜Assistant｜&gt;&lt;think&gt;\n").</li>
 *   <li>{@code KEEP}: the inference prompt (generation prompt included) followed by
 *       "&lt;think&gt;\n{reasoning}\n&lt;/think&gt;\n\n{answer}" and the end-of-turn token; reasoning comes from a
 *       {@code <think>…</think>} block in the reply and is empty when there is none.</li>
 *   <li>{@code EMPTY}: as KEEP but with the reasoning dropped: teaches short answers after an empty think block.</li>
 * </ul>
 * Earlier turns of a conversation stay as the template renders history.
 */
public enum ReasoningPolicy { TEMPLATE, KEEP, EMPTY }
