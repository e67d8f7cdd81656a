// The engine: model math on one backend (CPU reference or CUDA) over a paged KV cache.
//
// An Engine owns the weights and the KV storage (num_kv_blocks blocks of block_size tokens); it
// does not allocate blocks: the scheduler's block manager decides which block ids each sequence
// uses, and the plan's page table tells the engine. One step runs a ragged batch of prefill chunks
// and decodes and returns sampled tokens and requested log-probabilities.
//
// Sleep mode (engine/sleep_level.h): an engine that supports it frees its memory in Sleep and
// takes it back in WakeUp; in between, Step is FailedPrecondition.
//
// Not thread-safe: one thread (the scheduler's) calls Step. The engine knows nothing of requests,
// tenants or adapters' owners.
#ifndef TESSERA_ENGINE_ENGINE_H_
#define TESSERA_ENGINE_ENGINE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/lora_weights.h"
#include "engine/model_config.h"
#include "engine/sleep_level.h"
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

  // LoRA: how many adapters the engine holds at once (0: no LoRA support). Sequences of a plan
  // name a slot (StepSequence::adapter_slot); a step may mix every slot and the base model.
  virtual int32_t num_adapter_slots() const { return 0; }
  // Unified paging: how many KV blocks (Engine::kv_geometry's ids) the engine needs to hold
  // `weights` on its device, taken from the same pool as the KV cache, so no memory is set aside
  // for adapters. 0: the engine keeps adapters elsewhere (the CPU engine reads the host copy).
  // InvalidArgument when the adapter cannot be stored (shapes, or rows longer than a block holds).
  virtual absl::StatusOr<int32_t> AdapterKvBlocks(const LoraWeights& weights) const {
    (void)weights;
    return 0;
  }
  // Puts `weights` in `slot` for the following steps (null empties it), stored in `kv_blocks`
  // (exactly AdapterKvBlocks(*weights) ids, none of them used by a sequence until the slot is
  // emptied or refilled). The scheduler must not change a slot that a sequence in flight uses.
  // InvalidArgument for a slot out of range, weights whose shapes do not match the model
  // (LoraWeights::Validate) or the wrong number of blocks. The engine may copy asynchronously; a
  // step that uses the slot runs after the copy.
  virtual absl::Status SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                                  absl::Span<const int32_t> kv_blocks) {
    (void)slot;
    (void)weights;
    (void)kv_blocks;
    return absl::UnimplementedError("this engine does not serve LoRA adapters");
  }

  // Frees the weights and the KV storage as `level` says (kOffloadWeights or kDiscardWeights).
  // No sequence may be in flight: the KV cache's contents are lost, and every adapter slot is
  // emptied (the caller sets adapters again after WakeUp). FailedPrecondition when asleep
  // already or when the engine cannot get its weights back; InvalidArgument for kAwake.
  virtual absl::Status Sleep(SleepLevel level) {
    (void)level;
    return absl::UnimplementedError("this engine has no sleep mode");
  }
  // Takes back the weights and the KV storage (contents undefined, as after a start).
  // FailedPrecondition when awake; the reload's error otherwise (the engine stays asleep).
  virtual absl::Status WakeUp() {
    return absl::UnimplementedError("this engine has no sleep mode");
  }
  virtual SleepLevel sleep_level() const { return SleepLevel::kAwake; }
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_ENGINE_H_
