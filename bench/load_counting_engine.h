// An Engine that forwards every call to another and counts the adapter loads (SetAdapter with
// weights) that pass through it: the benchmark's view of how often the scheduler had to bring an
// adapter onto the device. Every Engine method must be forwarded here, or the scheduler would see
// the base class's default instead of the real engine's answer.
//
// Not thread-safe, like the engine it wraps; the wrapped engine must outlive it.
#ifndef TESSERA_BENCH_LOAD_COUNTING_ENGINE_H_
#define TESSERA_BENCH_LOAD_COUNTING_ENGINE_H_

#include <cstdint>
#include <memory>
#include <utility>

#include "engine/engine.h"

namespace tessera {

class LoadCountingEngine final : public Engine {
 public:
  explicit LoadCountingEngine(Engine& engine) : engine_(engine) {}

  const ModelConfig& config() const override { return engine_.config(); }
  KvCacheGeometry kv_geometry() const override { return engine_.kv_geometry(); }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override { return engine_.Step(plan); }
  int32_t num_adapter_slots() const override { return engine_.num_adapter_slots(); }
  absl::StatusOr<int32_t> AdapterKvBlocks(const LoraWeights& weights) const override {
    return engine_.AdapterKvBlocks(weights);
  }
  absl::Status SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                          absl::Span<const int32_t> kv_blocks) override {
    if (weights != nullptr) ++loads_;
    return engine_.SetAdapter(slot, std::move(weights), kv_blocks);
  }

  int64_t loads() const { return loads_; }

 private:
  Engine& engine_;
  int64_t loads_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_BENCH_LOAD_COUNTING_ENGINE_H_
