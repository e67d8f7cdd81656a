// One LoRA adapter's weights as the engine uses them: for each layer and each adapted projection,
// A [rank, in_features] and B [out_features, rank] in fp32 with the scale folded into nothing
// (kept apart: y += scale * B (A x)). The PEFT loader (adapters/) builds them; engines read them.
//
// Immutable once built and shared between threads through shared_ptr<const LoraWeights>.
#ifndef TESSERA_ENGINE_LORA_WEIGHTS_H_
#define TESSERA_ENGINE_LORA_WEIGHTS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/model_config.h"

namespace tessera {

// The projections of a Llama-style decoder layer that LoRA may adapt.
enum class LoraModule : uint8_t { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr int kNumLoraModules = 7;

// PEFT's module names: "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj".
absl::string_view LoraModuleName(LoraModule m);
std::optional<LoraModule> LoraModuleFromName(absl::string_view name);

// in_features and out_features of the base projection in `config`.
int64_t LoraModuleInFeatures(const ModelConfig& config, LoraModule m);
int64_t LoraModuleOutFeatures(const ModelConfig& config, LoraModule m);

struct LoraPair {
  int32_t rank = 0;  // 0: the module is not adapted
  float scale = 0;   // lora_alpha / rank, or / sqrt(rank) with rsLoRA; patterns applied
  int64_t in_features = 0;
  int64_t out_features = 0;
  std::vector<float> a;  // [rank, in_features], row-major
  std::vector<float> b;  // [out_features, rank], row-major
};

struct LoraWeights {
  // [layer][module]; rank 0 where the adapter leaves that projection alone.
  std::vector<std::array<LoraPair, kNumLoraModules>> layers;

  const LoraPair* Find(int64_t layer, LoraModule m) const;  // nullptr when not adapted
  int32_t max_rank() const;
  int64_t num_bytes() const;  // of A and B
  // Shapes against the base model: as many layers, in/out features of each module, rank >= 1
  // with A and B of matching sizes. InvalidArgument naming the layer and module.
  absl::Status Validate(const ModelConfig& config) const;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_LORA_WEIGHTS_H_
