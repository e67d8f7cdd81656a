// Model shapes of well-known checkpoints, for benchmarks that need no files.
#ifndef TESSERA_BENCH_SYNTHETIC_SHAPES_H_
#define TESSERA_BENCH_SYNTHETIC_SHAPES_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/model_config.h"

namespace tessera {

// "llama-3.2-1b" or "llama-3-8b": the published config.json values of those models.
inline absl::StatusOr<ModelConfig> SyntheticShape(const std::string& name) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 128256;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000;
  c.bos_token_id = 128000;
  c.eos_token_ids = {128001};
  if (name == "llama-3.2-1b") {
    c.hidden_size = 2048;
    c.intermediate_size = 8192;
    c.num_hidden_layers = 16;
    c.head_dim = 64;
    c.tie_word_embeddings = true;
    c.max_position_embeddings = 131072;
    c.rope_scaling.type = RopeScalingType::kLlama3;
    c.rope_scaling.factor = 32;
    c.rope_scaling.low_freq_factor = 1;
    c.rope_scaling.high_freq_factor = 4;
    c.rope_scaling.original_max_position_embeddings = 8192;
  } else if (name == "llama-3-8b") {
    c.hidden_size = 4096;
    c.intermediate_size = 14336;
    c.num_hidden_layers = 32;
    c.head_dim = 128;
    c.max_position_embeddings = 8192;
  } else {
    return absl::InvalidArgumentError("unknown shape \"" + name + "\" (llama-3.2-1b, llama-3-8b)");
  }
  c.layer_sliding_window.assign(c.num_hidden_layers, 0);
  return c;
}

}  // namespace tessera

#endif  // TESSERA_BENCH_SYNTHETIC_SHAPES_H_
