#include "engine/lora_weights.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

constexpr std::array<absl::string_view, kNumLoraModules> kNames = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

}  // namespace

absl::string_view LoraModuleName(LoraModule m) { return kNames[static_cast<int>(m)]; }

std::optional<LoraModule> LoraModuleFromName(absl::string_view name) {
  for (int i = 0; i < kNumLoraModules; ++i) {
    if (kNames[i] == name) return static_cast<LoraModule>(i);
  }
  return std::nullopt;
}

int64_t LoraModuleInFeatures(const ModelConfig& c, LoraModule m) {
  switch (m) {
    case LoraModule::kO:
      return c.q_size();
    case LoraModule::kDown:
      return c.intermediate_size;
    default:
      return c.hidden_size;
  }
}

int64_t LoraModuleOutFeatures(const ModelConfig& c, LoraModule m) {
  switch (m) {
    case LoraModule::kQ:
      return c.q_size();
    case LoraModule::kK:
    case LoraModule::kV:
      return c.kv_size();
    case LoraModule::kGate:
    case LoraModule::kUp:
      return c.intermediate_size;
    default:
      return c.hidden_size;
  }
}

const LoraPair* LoraWeights::Find(int64_t layer, LoraModule m) const {
  if (layer < 0 || layer >= static_cast<int64_t>(layers.size())) return nullptr;
  const LoraPair& p = layers[layer][static_cast<int>(m)];
  return p.rank > 0 ? &p : nullptr;
}

int32_t LoraWeights::max_rank() const {
  int32_t r = 0;
  for (const auto& layer : layers) {
    for (const LoraPair& p : layer) r = std::max(r, p.rank);
  }
  return r;
}

int64_t LoraWeights::num_bytes() const {
  int64_t bytes = 0;
  for (const auto& layer : layers) {
    for (const LoraPair& p : layer) {
      bytes += static_cast<int64_t>((p.a.size() + p.b.size()) * sizeof(float));
    }
  }
  return bytes;
}

absl::Status LoraWeights::Validate(const ModelConfig& c) const {
  if (static_cast<int64_t>(layers.size()) != c.num_hidden_layers) {
    return absl::InvalidArgumentError(absl::StrCat("the adapter has ", layers.size(),
                                                   " layers, the model ", c.num_hidden_layers));
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    for (int i = 0; i < kNumLoraModules; ++i) {
      const LoraPair& p = layers[l][i];
      if (p.rank == 0) continue;
      const LoraModule m = static_cast<LoraModule>(i);
      auto fail = [&](auto&&... parts) {
        return absl::InvalidArgumentError(
            absl::StrCat("layer ", l, " ", LoraModuleName(m), ": ", parts...));
      };
      if (p.rank < 0) return fail("rank ", p.rank, " is negative");
      if (p.in_features != LoraModuleInFeatures(c, m) ||
          p.out_features != LoraModuleOutFeatures(c, m)) {
        return fail("shape ", p.out_features, "x", p.in_features, " does not match the model's ",
                    LoraModuleOutFeatures(c, m), "x", LoraModuleInFeatures(c, m));
      }
      if (static_cast<int64_t>(p.a.size()) != p.rank * p.in_features ||
          static_cast<int64_t>(p.b.size()) != p.out_features * p.rank) {
        return fail("A or B holds the wrong number of values for rank ", p.rank);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera
