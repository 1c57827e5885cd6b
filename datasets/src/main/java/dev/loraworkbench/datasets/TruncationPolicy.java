package dev.loraworkbench.datasets;

/** What to do with an example longer than max_seq_len after the chat template. */
public enum TruncationPolicy { TRUNCATE, DROP, ERROR }
