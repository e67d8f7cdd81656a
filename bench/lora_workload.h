// The requests of one multi-LoRA throughput case: random prompts shared by every case, and for
// each request the adapter it runs with, drawn from N synthetic adapters by a power law
// (ZipfSampler), each adapter with a rank drawn from a list. Only the adapters that some request
// drew are made: one nobody asks for changes nothing in a run, and 1000 all-module adapters of an
// 8B model would not fit in host memory.
//
// Plain data once made; the adapters are shared, immutable AdapterRefs.
#ifndef TESSERA_BENCH_LORA_WORKLOAD_H_
#define TESSERA_BENCH_LORA_WORKLOAD_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/lora_weights.h"
#include "engine/model_config.h"
#include "scheduler/request.h"

namespace tessera {

struct LoraWorkloadOptions {
  int32_t num_adapters = 0;  // 0: every request runs on the base model
  int32_t num_requests = 0;
  double zipf_alpha = 1.0;
  std::vector<int32_t> ranks{16};  // each adapter's rank is drawn from these, uniformly
  std::vector<LoraModule> targets;
  uint64_t seed = 1;  // same options and seed: same draws, ranks and values
  int threads = 0;    // for making the adapters (0: all cores)
  // ResourceExhausted, before anything is made, when the drawn adapters need more host fp32.
  int64_t max_host_bytes = int64_t{1} << 40;
};

struct LoraWorkload {
  int32_t num_adapters = 0;
  std::vector<std::shared_ptr<const AdapterRef>> per_request;  // null: base model
  int32_t distinct = 0;              // adapters drawn by at least one request
  std::map<int32_t, int32_t> ranks;  // rank -> how many of the distinct adapters have it
  int64_t host_bytes = 0;            // fp32 A and B of the distinct adapters
  double make_seconds = 0;           // making the adapters' weights
};

absl::StatusOr<LoraWorkload> MakeLoraWorkload(const ModelConfig& config,
                                              const LoraWorkloadOptions& options);

// `count` prompts of `length` tokens, uniform over the vocabulary.
std::vector<std::vector<int32_t>> RandomPrompts(const ModelConfig& config, int32_t count,
                                                int32_t length, uint64_t seed);

}  // namespace tessera

#endif  // TESSERA_BENCH_LORA_WORKLOAD_H_
