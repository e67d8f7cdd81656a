#include "client/model_presets.h"

#include "absl/strings/str_cat.h"

namespace tessera {

absl::StatusOr<ModelConfig> PresetModelConfig(const std::string& preset) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 32000;
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.max_position_embeddings = 4096;
  if (preset == "tiny-llama") {
    c.hidden_size = 64;
    c.intermediate_size = 192;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
    c.rope_theta = 10000;
  } else if (preset == "llama-mini") {
    // Small enough for the CPU engine to decode at interactive speed, big enough to have GQA,
    // several layers and a context that real prompts fit in.
    c.hidden_size = 256;
    c.intermediate_size = 768;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
    c.rope_theta = 500000;
    c.max_position_embeddings = 2048;
  } else if (preset == "llama-small") {
    c.hidden_size = 512;
    c.intermediate_size = 1408;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
    c.head_dim = 64;
    c.rope_theta = 500000;
    c.max_position_embeddings = 8192;
  } else if (preset == "llama-3-8b" || preset == "llama-3.2-1b") {
    // Meta's published config.json shapes (Llama-3-8B; Llama-3.2-1B with its tied embeddings and
    // llama3 RoPE scaling), for `tessera plan` above all: init-model writes 16 GB or 2.5 GB.
    const bool big = preset == "llama-3-8b";
    c.vocab_size = 128256;
    c.bos_token_id = 128000;
    c.eos_token_ids = {128001};
    c.hidden_size = big ? 4096 : 2048;
    c.intermediate_size = big ? 14336 : 8192;
    c.num_hidden_layers = big ? 32 : 16;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 8;
    c.head_dim = big ? 128 : 64;
    c.rope_theta = 500000;
    c.max_position_embeddings = big ? 8192 : 131072;
    c.tie_word_embeddings = !big;
    if (!big) {
      c.rope_scaling.type = RopeScalingType::kLlama3;
      c.rope_scaling.factor = 32;
      c.rope_scaling.low_freq_factor = 1;
      c.rope_scaling.high_freq_factor = 4;
      c.rope_scaling.original_max_position_embeddings = 8192;
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--preset: unknown \"", preset,
                     "\" (known: tiny-llama, llama-mini, llama-small, llama-3-8b, llama-3.2-1b)"));
  }
  c.layer_sliding_window.assign(c.num_hidden_layers, 0);
  return c;
}

absl::StatusOr<DType> ParseWeightDType(std::string_view flag) {
  if (flag == "bf16") return DType::kBF16;
  if (flag == "f16") return DType::kF16;
  if (flag == "f32") return DType::kF32;
  return absl::InvalidArgumentError(
      absl::StrCat("--dtype: unknown \"", std::string(flag), "\" (known: bf16, f16, f32)"));
}

}  // namespace tessera
