// A random LoRA adapter for engine tests: rank-4 pairs on q and down of every layer, values that
// move the logits visibly. Deterministic (fixed seed).
#ifndef TESSERA_TESTS_ENGINE_RANDOM_LORA_H_
#define TESSERA_TESTS_ENGINE_RANDOM_LORA_H_

#include <cstdint>
#include <memory>
#include <random>

#include "engine/lora_weights.h"
#include "engine/model_config.h"

namespace tessera::testing {

inline std::shared_ptr<LoraWeights> RandomLora(const ModelConfig& c) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-0.2f, 0.2f);
  auto w = std::make_shared<LoraWeights>();
  w->layers.resize(c.num_hidden_layers);
  for (auto& layer : w->layers) {
    for (LoraModule m : {LoraModule::kQ, LoraModule::kDown}) {
      LoraPair& p = layer[static_cast<int>(m)];
      p.rank = 4;
      p.scale = 2.0f;
      p.in_features = LoraModuleInFeatures(c, m);
      p.out_features = LoraModuleOutFeatures(c, m);
      for (int64_t i = 0; i < p.rank * p.in_features; ++i) p.a.push_back(u(rng));
      for (int64_t i = 0; i < p.out_features * p.rank; ++i) p.b.push_back(u(rng));
    }
  }
  return w;
}

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_ENGINE_RANDOM_LORA_H_
