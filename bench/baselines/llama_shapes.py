"""The Llama shapes the baselines build (random weights), as the C++ benchmarks do from
bench/synthetic_shapes.h: one definition for hf_generate.py and peft_mixed.py."""

SHAPES = {
    # Published config.json values of the models whose shapes engine_bench and lora_bench use.
    "llama-3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                         tie_word_embeddings=True, max_position_embeddings=131072,
                         rope_scaling={"rope_type": "llama3", "factor": 32.0,
                                       "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                       "original_max_position_embeddings": 8192}),
    "llama-3-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                       tie_word_embeddings=False, max_position_embeddings=8192),
}
