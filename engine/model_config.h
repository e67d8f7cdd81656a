// The architecture of a decoder-only transformer, read from a Hugging Face config.json.
//
// Supported architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM. Values follow
// transformers' defaults for each architecture where config.json leaves a field out. Anything
// tessera cannot run faithfully (an unknown architecture, activation or RoPE scaling type,
// inconsistent sizes) is an error naming the field, never a silent approximation.
#ifndef TESSERA_ENGINE_MODEL_CONFIG_H_
#define TESSERA_ENGINE_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/quant/quant_config.h"

namespace tessera {

enum class RopeScalingType : uint8_t { kNone, kLinear, kLlama3 };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;
  // llama3 only.
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  std::string model_type;    // e.g. "llama"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // config's head_dim, else hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  // Projection biases: Qwen2 always has q/k/v biases; Llama has them with attention_bias (o too)
  // and mlp_bias (gate/up/down).
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  // Per layer: 0 = full causal attention, W > 0 = a query attends to the last W positions
  // (itself included), as transformers' sliding-window mask does.
  std::vector<int64_t> layer_sliding_window;
  int64_t bos_token_id = -1;           // -1 when unset
  std::vector<int64_t> eos_token_ids;  // config.json and generation_config.json, deduplicated

  // The checkpoint's quantization_config (method kNone when absent or null): which Linears are
  // stored pre-quantized, and how.
  QuantConfig quantization;

  int64_t q_size() const { return num_attention_heads * head_dim; }
  int64_t kv_size() const { return num_key_value_heads * head_dim; }
  int64_t group_size() const { return num_attention_heads / num_key_value_heads; }
};

// Parses config.json text. `source` names the file in errors.
absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view config_json, std::string_view source);

// Reads DIR/config.json, and DIR/generation_config.json when present (its eos_token_id, a number or
// a list, is added to the config's).
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

}  // namespace tessera

#endif  // TESSERA_ENGINE_MODEL_CONFIG_H_
