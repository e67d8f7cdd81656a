#include "authoring/checkpoint_writer.h"

#include <cstring>
#include <filesystem>
#include <random>

#include "absl/strings/str_format.h"
#include "authoring/safetensors_writer.h"
#include "engine/model_weights.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

std::string EncodeRandom(const WeightSpec& spec, DType dtype, float scale, std::mt19937_64& rng) {
  int64_t n = 1;
  for (int64_t d : spec.shape) n *= d;
  const bool norm = spec.kind == WeightKind::kFinalNorm || spec.kind == WeightKind::kInputNorm ||
                    spec.kind == WeightKind::kPostAttentionNorm;
  std::uniform_real_distribution<float> u(norm ? 0.8f : -scale, norm ? 1.2f : scale);
  std::string bytes(n * DTypeSize(dtype), '\0');
  for (int64_t i = 0; i < n; ++i) {
    const float f = u(rng);
    if (dtype == DType::kF32) {
      std::memcpy(&bytes[4 * i], &f, 4);
    } else {
      // bf16 values for both 16-bit types: they are exact in f16 only for bf16, so f16 stores the
      // nearest f16 via float -> f16 conversion below.
      uint16_t h = FloatToBf16(f);
      if (dtype == DType::kF16) h = FloatToF16(Bf16ToFloat(h));
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
  return bytes;
}

}  // namespace

std::string ModelConfigToJson(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {c.architecture};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = nullptr;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (c.model_type == "llama") {
    j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = c.mlp_bias;
  }
  // transformers writes null for a model without BOS; the loader refuses a negative id.
  if (c.bos_token_id >= 0) {
    j["bos_token_id"] = c.bos_token_id;
  } else {
    j["bos_token_id"] = nullptr;
  }
  j["eos_token_id"] = c.eos_token_ids;
  j["torch_dtype"] = "bfloat16";
  return j.dump(2) + "\n";
}

absl::Status WriteRandomCheckpoint(const std::string& dir, const ModelConfig& config,
                                   const RandomCheckpointOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(dir, ": ", ec.message()));
  if (absl::Status s = WriteFileAtomically(dir + "/config.json", ModelConfigToJson(config));
      !s.ok()) {
    return s;
  }
  std::mt19937_64 rng(options.seed);
  const std::vector<WeightSpec> specs = ExpectedWeights(config);
  const int shards = std::max(1, options.num_shards);
  std::vector<std::vector<TensorToWrite>> files(shards);
  for (size_t i = 0; i < specs.size(); ++i) {
    files[i % shards].push_back({specs[i].name, options.dtype, specs[i].shape,
                                 EncodeRandom(specs[i], options.dtype, options.scale, rng)});
  }
  if (shards == 1)
    return WriteSafetensors(dir + "/model.safetensors", files[0], {{"format", "pt"}});
  nlohmann::ordered_json index;
  index["metadata"] = nlohmann::ordered_json::object();
  index["weight_map"] = nlohmann::ordered_json::object();
  for (int s = 0; s < shards; ++s) {
    const std::string name = absl::StrFormat("model-%05d-of-%05d.safetensors", s + 1, shards);
    for (const TensorToWrite& t : files[s]) index["weight_map"][t.name] = name;
    if (absl::Status st = WriteSafetensors(dir + "/" + name, files[s], {{"format", "pt"}});
        !st.ok()) {
      return st;
    }
  }
  return WriteFileAtomically(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
}

}  // namespace tessera
