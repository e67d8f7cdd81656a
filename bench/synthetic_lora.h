// Synthetic LoRA adapters for benchmarks: random LoraWeights made quickly on the host (a cheap
// counter-based generator, many adapters on many threads), and PEFT adapter directories
// (adapter_config.json + a bf16 adapter_model.safetensors) written from them, so that loading
// from disk can be timed without downloads.
//
// The values are small (|x| <= 0.01) so that an adapted model stays finite; they mean nothing.
// Stateless functions; thread-safe. The weights returned are immutable and shared.
#ifndef TESSERA_BENCH_SYNTHETIC_LORA_H_
#define TESSERA_BENCH_SYNTHETIC_LORA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/lora_weights.h"
#include "engine/model_config.h"

namespace tessera {

struct SyntheticLoraSpec {
  int32_t rank = 16;
  std::vector<LoraModule> targets;  // adapted in every layer
  uint64_t seed = 0;                // same spec and seed: same values
  float scale = 2.0f;               // lora_alpha / rank (PEFT writes lora_alpha = scale * rank)
};

// "q,k,v,o", "q_proj,v_proj", "all" (the seven projections): the modules named, in enum order,
// each once. InvalidArgument naming an unknown entry, or for an empty list.
absl::StatusOr<std::vector<LoraModule>> ParseLoraTargets(const std::string& list);

// Bytes of fp32 A and B that `spec` makes for `config` (LoraWeights::num_bytes of the result).
int64_t SyntheticLoraBytes(const ModelConfig& config, const SyntheticLoraSpec& spec);

std::shared_ptr<const LoraWeights> RandomLoraWeights(const ModelConfig& config,
                                                     const SyntheticLoraSpec& spec);

// One adapter per spec, made on `threads` threads (0: all cores); result[i] is specs[i]'s.
std::vector<std::shared_ptr<const LoraWeights>> RandomLoraWeightsParallel(
    const ModelConfig& config, const std::vector<SyntheticLoraSpec>& specs, int threads = 0);

// Writes `dir`/adapter_config.json and `dir`/adapter_model.safetensors (bf16, PEFT's tensor names)
// for `weights`, creating `dir`. Every layer must adapt the same modules with one rank and one
// scale (InvalidArgument otherwise). The files are flushed to disk and dropped from the page
// cache (best effort), so that the next read of them is a cold one.
absl::Status WritePeftAdapterDir(const std::string& dir, const LoraWeights& weights);

}  // namespace tessera

#endif  // TESSERA_BENCH_SYNTHETIC_LORA_H_
