// The CUDA backend: bf16 weights and KV cache on one GPU, cuBLAS GEMMs, tessera's own kernels for
// everything between them, and sampling on the device.
//
// A step uploads the plan's integer arrays in one copy, runs every layer without a host sync, and
// copies back only sampled ids and requested log-probabilities (and logits rows a test asks for).
// Sequences whose sampling the GPU sampler does not cover yet (cuts, penalties, logit bias,
// suppressed ids) have their logits row copied back and are sampled on the host (HostSampledRows).
// The residual stream is kept in fp32; GEMM inputs and outputs are bf16 with fp32 accumulation.
//
// Sleep mode (cuda_engine_sleep.cc): level 1 copies the weights to pinned host memory and frees
// them on the device, level 2 drops them (wake reloads the checkpoint); both free the KV pool, the
// workspace, the adapter pool and the captured decode graphs (recaptured after the wake), so the
// engine holds almost no device memory while asleep. The wake re-allocates the same number of KV
// blocks (the scheduler's geometry does not change), or fails and stays asleep.
//
// Not thread-safe (one caller, the scheduler thread). Owns its stream, weights and KV storage.
#ifndef TESSERA_ENGINE_CUDA_CUDA_ENGINE_H_
#define TESSERA_ENGINE_CUDA_CUDA_ENGINE_H_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cuda/cuda_weights.h"
#include "engine/cuda/decode_graphs.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/device_lora_pool.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/host_sampled_rows.h"
#include "engine/cuda/pinned_host_buffer.h"
#include "engine/engine.h"
#include "engine/memory_plan.h"
#include "engine/phase_timer.h"
#include "engine/quant/on_load_quantizer.h"
#include "engine/weight_tally.h"

namespace tessera {

class CudaQuantLinears;  // cuda_quant_linears.h
struct QuantWeightView;  // quant_weight_view.h
struct CudaWorkspace;    // cuda_workspace.h
struct CudaDeviceStep;   // cuda_step_upload.h

struct CudaEngineOptions {
  int32_t device = 0;
  int32_t block_size = kDefaultBlockSize;
  // Share of the card's memory the engine may hold in all (weights + workspace + KV).
  double gpu_memory_utilization = 0.9;
  int32_t num_kv_blocks = 0;  // > 0: exactly this many KV blocks, else all that the plan allows
  // Largest step: the workspace is sized for it, and a larger plan is an InvalidArgument error.
  int32_t max_num_tokens = 8192;
  int32_t max_num_seqs = 256;
  // Replay decode-only steps from CUDA graphs captured per batch-size bucket (prefill and mixed
  // steps always run eagerly). Off by default until the graph path has run on a GPU: it was
  // written after this build's last GPU session (see the CUDA backend issue's notes).
  bool cuda_graphs = false;
  // LoRA: adapter slots (Engine::num_adapter_slots; 0 disables LoRA) and the largest rank a slot
  // takes. Adapters are stored in blocks of the KV pool (AdapterKvBlocks), so neither reserves
  // device memory beyond the small per-slot tables and a shrink scratch sized by the step.
  int32_t max_loras = 0;
  int32_t max_lora_rank = 64;
  // --max-model-len: the longest request (prompt + output); 0: the model's context.
  int64_t max_model_len = 0;
  // On-load quantization of an unquantized checkpoint's decoder Linears (a pre-quantized
  // checkpoint's Linears run quantized regardless): both run the packed-weight kernels.
  OnLoadQuantization quantization;
  // --num-weight-load-threads: host threads that read and convert the checkpoint while the
  // device copies; 0: the hardware's count (capped by the upload).
  int32_t weight_load_threads = 0;
};

class CudaEngine final : public Engine {
 public:
  // Loads DIR/config.json and its safetensors onto the device, reading with
  // `options.weight_load_threads` threads. With `phases`, books model_open, device_init, weights
  // and kv_alloc there.
  static absl::StatusOr<std::unique_ptr<CudaEngine>> Load(const std::string& model_dir,
                                                          const CudaEngineOptions& options,
                                                          PhaseTimer* phases = nullptr);
  // Random weights generated on the device (benchmarks of shapes without files); with
  // options.quantization, the decoder Linears are random packed weights of that kind instead.
  static absl::StatusOr<std::unique_ptr<CudaEngine>> CreateRandom(const ModelConfig& config,
                                                                  uint64_t seed,
                                                                  const CudaEngineOptions& options);
  ~CudaEngine() override;

  const ModelConfig& config() const override { return config_; }
  KvCacheGeometry kv_geometry() const override { return {plan_.num_kv_blocks, block_size_}; }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override;

  // LoRA (CudaEngineOptions::max_loras slots): adapters live in KV blocks the caller lends
  // (unified paging) and load asynchronously on a copy stream (DeviceLoraPool).
  int32_t num_adapter_slots() const override { return options_.max_loras; }
  absl::StatusOr<int32_t> AdapterKvBlocks(const LoraWeights& weights) const override;
  absl::Status SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                          absl::Span<const int32_t> kv_blocks) override;

  absl::Status Sleep(SleepLevel level) override;
  absl::Status WakeUp() override;
  SleepLevel sleep_level() const override { return sleep_level_; }

  const MemoryPlan& memory_plan() const { return plan_; }
  const WeightLoadStats& load_stats() const { return load_stats_; }
  // The quantized Linears' device bytes by format (empty for a bf16 model).
  const WeightTally& quantized_weights() const { return weight_tally_; }
  // Blocks until the device has finished every queued step and adapter load (benchmarks time
  // around it).
  absl::Status Synchronize();

 private:
  // A token row that needs logits: its sequence, its index among the sequence's fed tokens, and
  // whether it is the sequence's last.
  struct RowInfo {
    int32_t seq;
    int32_t j;
    bool last;
  };
  CudaEngine(ModelConfig config, const CudaEngineOptions& options);

  // Everything after the weights: stream and cuBLAS first (the plan needs them), then the plan,
  // workspace and KV pool.
  absl::Status InitStream();
  // The options that size device memory, as the shared memory plan takes them.
  CudaMemoryOptions MemoryOptions() const;
  absl::Status InitBuffers(int64_t weight_bytes);
  // Takes the packed Linears and points every layer's weights at them.
  void AttachQuantizedLinears(std::unique_ptr<CudaQuantLinears> linears);
  // Frees everything InitBuffers allocated and the captured graphs (sleep; a failed wake).
  void ReleaseBuffers();
  absl::Status CheckPlan(const StepPlan& plan) const;
  absl::Status StepEager(const StepPlan& plan, StepResult* result);
  bool UseDecodeGraph(const StepPlan& plan) const;
  int32_t GraphBatchCapacity() const;
  int64_t GraphBlockCapacity() const;
  absl::Status StepDecodeGraph(const StepPlan& plan, StepResult* result);
  // The plan's copy-on-write block copies, on the stream ahead of the step's KV writes. `d_pairs`:
  // the (src, dst) pairs uploaded with the plan's arrays, or nullptr to upload them here (graph
  // steps, whose fixed arrays have no room for them).
  absl::Status EnqueueBlockCopies(const StepPlan& plan, const int32_t* d_pairs);
  // Embedding, every layer and the last residual add, on the stream (no host sync).
  absl::Status EnqueueForward(const CudaDeviceStep& step);
  // y = x W^T (+ beta y) for one of a layer's Linears: the quantized kernels when `q` is set, else
  // cuBLAS's bf16 GEMM on `w`.
  absl::Status Linear(const __nv_bfloat16* x, int32_t n, const __nv_bfloat16* w,
                      const QuantWeightView* q, int64_t out_features, int64_t in_features,
                      __nv_bfloat16* y, float beta);
  // The LoRA deltas of one layer's projection group (q|k|v, o, gate|up or down) onto its GEMM
  // output, for the rows whose sequences run with an adapter. No-op for a step without any.
  absl::Status EnqueueLora(const CudaDeviceStep& step, int32_t layer,
                           std::initializer_list<int> modules, const __nv_bfloat16* x,
                           int64_t x_stride, __nv_bfloat16* y, int64_t y_stride);
  // Orders the stream after the adapter loads the plan's sequences depend on.
  absl::Status WaitForAdapters(const StepPlan& plan);
  // Final norm of `count` rows, lm_head and the sampler over CudaWorkspace::requests.
  absl::Status EnqueueLogits(const int32_t* d_rows, int32_t count);
  static std::vector<RowInfo> RowsOf(const StepPlan& plan, const std::vector<int32_t>& rows);
  // Host requests for rows [begin, begin + count) into CudaWorkspace::host_requests[0, count).
  absl::Status BuildRequests(const StepPlan& plan, const std::vector<RowInfo>& info, int32_t begin,
                             int32_t count);
  // Copies back the sampler's results (and requested logits rows), then FillOutputs.
  absl::Status FetchOutputs(const StepPlan& plan, const std::vector<RowInfo>& info, int32_t begin,
                            int32_t count, StepResult* result);
  void FillOutputs(const StepPlan& plan, const std::vector<RowInfo>& info, int32_t begin,
                   int32_t count, StepResult* result) const;
  // Queues copies of the logits of the host-sampled rows among info[begin, begin + count); entry
  // r's logits are device row logit_rows[r] of CudaWorkspace::logits, or row r when logit_rows is
  // null.
  absl::Status EnqueueHostSampledRows(const StepPlan& plan, const std::vector<RowInfo>& info,
                                      int32_t begin, int32_t count, const int32_t* logit_rows);
  // After the stream is synchronized: samples the rows EnqueueHostSampledRows queued.
  void SampleHostRows(const StepPlan& plan, const std::vector<RowInfo>& info, int32_t begin,
                      int32_t count, StepResult* result);

  ModelConfig config_;
  CudaEngineOptions options_;
  int32_t block_size_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<CublasHandle> cublas_;
  CudaWeights weights_;
  std::unique_ptr<CudaQuantLinears> quant_;  // null for a bf16 model
  WeightTally weight_tally_;                 // the quantized Linears' bytes by format
  WeightLoadStats load_stats_;
  MemoryPlan plan_;
  std::unique_ptr<CudaWorkspace> ws_;
  DeviceBuffer<__nv_bfloat16> kv_;
  DeviceBuffer<float> inv_freq_;
  std::unique_ptr<DecodeGraphCache> graphs_;
  std::unique_ptr<DeviceLoraPool> lora_;  // null when max_loras is 0
  // The plan arrays of graph-replayed steps live at fixed addresses.
  DeviceBuffer<int32_t> graph_ints_;
  int32_t* graph_host_ints_ = nullptr;
  HostSampledRows host_rows_;
  std::vector<int32_t> host_slots_;  // per row of the current pass: its slot in host_rows_, or -1
  // Sleep mode: the checkpoint (empty for CreateRandom: level 2 is refused), the state, and the
  // weights while level 1 keeps them on the host.
  std::string model_dir_;
  SleepLevel sleep_level_ = SleepLevel::kAwake;
  PinnedHostBuffer offloaded_weights_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_CUDA_ENGINE_H_
