// The CPU backend: fp32 reference implementation of the Engine interface.
//
// Readable first: one function per op, each a direct transcription of the math, threaded with
// OpenMP over independent outputs. It is the oracle every CUDA op is tested against, so it favours
// clarity and a fixed summation order (a row's result does not depend on its batch) over speed.
//
// LoRA: each sequence may name an adapter slot; the rows of its tokens get y += scale * B (A x) on
// every projection the adapter adapts (engine/cpu/lora.h), so one step mixes adapters and the base
// model freely. Slots share ownership of their LoraWeights with whoever set them.
//
// Sleep mode: both levels free the fp32 weights and the KV storage (returned to the OS, so the
// process's resident memory drops by their size) and WakeUp reloads the weights from the
// checkpoint the engine was loaded from. An engine made by Create (weights from memory) has
// nothing to reload from and refuses to sleep.
//
// Not thread-safe (one caller, the scheduler thread). Owns weights and KV storage.
#ifndef TESSERA_ENGINE_CPU_CPU_ENGINE_H_
#define TESSERA_ENGINE_CPU_CPU_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cpu/cpu_kv_cache.h"
#include "engine/cpu/cpu_weights.h"
#include "engine/cpu/rope.h"
#include "engine/engine.h"
#include "engine/phase_timer.h"
#include "engine/sampler.h"

namespace tessera {

struct CpuEngineOptions {
  int32_t block_size = kDefaultBlockSize;
  // KV storage: num_kv_blocks when > 0, else as many blocks as kv_cache_bytes holds.
  int32_t num_kv_blocks = 0;
  int64_t kv_cache_bytes = int64_t{1} << 30;
  int32_t num_threads = 0;  // 0 = all cores
  // LoRA adapter slots (Engine::num_adapter_slots); 0 disables LoRA.
  int32_t max_loras = 8;
  // --max-model-len: the longest request (prompt + output); 0: the model's context.
  int64_t max_model_len = 0;
  // --dtype and on-load --quantization (Load only).
  WeightLoadOptions weights;
};

class CpuEngine final : public Engine {
 public:
  // Loads DIR/config.json and its safetensors, checks every tensor, converts to fp32. With
  // `phases`, books model_open (config and checkpoint index), weights and kv_alloc there.
  static absl::StatusOr<std::unique_ptr<CpuEngine>> Load(const std::string& model_dir,
                                                         const CpuEngineOptions& options,
                                                         PhaseTimer* phases = nullptr);
  static absl::StatusOr<std::unique_ptr<CpuEngine>> Create(ModelConfig config, CpuWeights weights,
                                                           const CpuEngineOptions& options);

  const ModelConfig& config() const override { return config_; }
  KvCacheGeometry kv_geometry() const override { return {kv_.num_blocks(), kv_.block_size()}; }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override;
  int32_t num_adapter_slots() const override { return static_cast<int32_t>(adapters_.size()); }
  // Adapters stay in host memory (AdapterKvBlocks is 0), so `kv_blocks` must be empty.
  absl::Status SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                          absl::Span<const int32_t> kv_blocks) override;

  // Engine::Sleep / WakeUp; see the file comment.
  absl::Status Sleep(SleepLevel level) override;
  absl::Status WakeUp() override;
  SleepLevel sleep_level() const override { return sleep_level_; }

  const CpuWeights& weights() const { return weights_; }
  // The KV storage, for tests that inspect blocks.
  const CpuKvCache& kv_cache() const { return kv_; }

 private:
  CpuEngine(ModelConfig config, CpuWeights weights, int32_t num_blocks, int32_t block_size,
            int32_t max_loras);

  // InvalidArgument when a sequence names a slot out of range or an empty one.
  absl::Status CheckAdapterSlots(const StepPlan& plan) const;
  // Each token's adapter (null: base model), or empty when no sequence of the plan uses one.
  std::vector<const LoraWeights*> RowAdapters(const StepPlan& plan) const;

  // Runs all layers over the plan's tokens; returns the final hidden states [num_tokens, hidden]
  // before the final norm.
  std::vector<float> Forward(const StepPlan& plan, const std::vector<int64_t>& positions);
  void Layer(int64_t l, const StepPlan& plan, const std::vector<int64_t>& num_cached,
             const std::vector<int64_t>& positions,
             const std::vector<const LoraWeights*>& row_adapters, std::vector<float>& x);
  // y += the LoRA delta of projection `m` of layer `l` for rows with an adapter; x is its input.
  void AddLora(int64_t l, LoraModule m, const std::vector<const LoraWeights*>& row_adapters,
               const float* x, float* y) const;

  int32_t num_threads_ = 0;  // 0: OpenMP's default
  // Reads the weights again from the checkpoint (set by Load; empty for Create).
  std::function<absl::StatusOr<CpuWeights>()> reload_;
  SleepLevel sleep_level_ = SleepLevel::kAwake;
  ModelConfig config_;
  CpuWeights weights_;
  Rope rope_;
  CpuKvCache kv_;
  std::vector<std::shared_ptr<const LoraWeights>> adapters_;  // one per slot; null when empty
  // Reused by every sample (Step runs on one thread), so a large vocabulary is not reallocated.
  SamplerScratch sampler_scratch_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_CPU_ENGINE_H_
