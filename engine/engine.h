// The engine: model math on one backend (CPU reference or CUDA) over a paged KV cache.
//
// An Engine owns the weights and the KV storage (num_kv_blocks blocks of block_size tokens); it
// does not allocate blocks: the scheduler's block manager decides which block ids each sequence
// uses, and the plan's page table tells the engine. One step runs a ragged batch of prefill chunks
// and decodes and returns sampled tokens and requested log-probabilities.
//
// Not thread-safe: one thread (the scheduler's) calls Step. The engine knows nothing of requests,
// tenants or adapters' owners.
#ifndef TESSERA_ENGINE_ENGINE_H_
#define TESSERA_ENGINE_ENGINE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/model_config.h"
#include "engine/step_plan.h"

namespace tessera {

struct KvCacheGeometry {
  int32_t num_blocks = 0;
  int32_t block_size = kDefaultBlockSize;
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const ModelConfig& config() const = 0;
  virtual KvCacheGeometry kv_geometry() const = 0;

  // Runs one step. An invalid plan is an InvalidArgument error and changes nothing.
  virtual absl::StatusOr<StepResult> Step(const StepPlan& plan) = 0;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_ENGINE_H_
