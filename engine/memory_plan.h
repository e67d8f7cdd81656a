// How the CUDA engine splits the card: weights (fixed by the model), an activation workspace
// (fixed by the step token budget) and the KV page pool, which gets the rest of the share of device
// memory that --gpu-memory-utilization allows.
//
// Plain arithmetic with no CUDA in it, so that `tessera plan` computes its figures with the very
// functions the CUDA engine sizes itself with (the engine static_asserts that the struct sizes and
// limits named here are its own). Stateless; safe from any thread.
#ifndef TESSERA_ENGINE_MEMORY_PLAN_H_
#define TESSERA_ENGINE_MEMORY_PLAN_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model_config.h"

namespace tessera {

// Sizes the CUDA engine's code fixes (checked against the CUDA types where they live).
inline constexpr int32_t kCudaLogitRowsPerPass = 256;   // lm_head rows per pass
inline constexpr int64_t kCudaSampleRequestBytes = 32;  // sizeof(GpuSampleRequest)
inline constexpr int64_t kCudaSampleResultBytes = 180;  // sizeof(GpuSampleResult)
inline constexpr int64_t kCublasWorkspaceBytes = int64_t{32} << 20;
inline constexpr int kPagedAttentionMaxSplits = 64;          // split-KV partials per sequence
inline constexpr int kPagedAttentionSplitSlotBudget = 1024;  // num_seqs * splits, at most
inline constexpr int64_t kLoraModuleDescBytes = 24;          // sizeof(LoraModuleDesc)
inline constexpr int kLoraShrinkGroup = 3;                   // kMaxLoraGroup: q, k, v share x
inline constexpr int32_t kCudaQuantGemvMaxRows = 16;         // kQuantGemvMaxRows: above, dequantize

struct MemoryPlanInputs {
  int64_t device_total_bytes = 0;  // cudaMemGetInfo's total
  int64_t device_free_bytes = 0;   // and free, before the engine allocates anything
  double gpu_memory_utilization = 0.9;
  int64_t weight_bytes = 0;
  int64_t workspace_bytes = 0;  // activations, attention and GEMM scratch, logits
  int64_t kv_bytes_per_block = 0;
  int32_t num_kv_blocks = 0;  // > 0: exactly this many (must fit), else all that fits
  int32_t min_kv_blocks = 1;  // fewer is an error: the engine could not hold one longest request
};

struct MemoryPlan {
  int64_t budget_bytes = 0;  // total * utilization
  int64_t weight_bytes = 0;
  int64_t workspace_bytes = 0;
  int64_t kv_bytes = 0;
  int32_t num_kv_blocks = 0;

  // One line for logs: "budget 71.2 GiB = weights 15.0 GiB + workspace 1.3 GiB + KV 54.9 GiB
  // (28110 blocks)".
  std::string ToString() const;
};

// The plan, or a ResourceExhausted error with the numbers when weights and workspace leave no room
// for min_kv_blocks, or when the budget exceeds what is free (another process holds the card).
absl::StatusOr<MemoryPlan> PlanDeviceMemory(const MemoryPlanInputs& in);

// Bytes of one KV block on the device (bf16 K and V of every layer).
int64_t CudaKvBytesPerBlock(const ModelConfig& config, int32_t block_size);

// The CUDA engine's options that size device memory (CudaEngineOptions's fields of these names).
struct CudaMemoryOptions {
  int32_t block_size = 16;
  double gpu_memory_utilization = 0.9;
  int32_t num_kv_blocks = 0;
  int32_t max_num_tokens = 8192;  // the step token budget (--max-num-batched-tokens)
  int32_t max_num_seqs = 256;
  int32_t max_loras = 0;
  int32_t max_lora_rank = 64;
  int64_t max_model_len = 0;  // the longest request; 0: the model's max_position_embeddings
  bool quantized = false;     // decoder Linears in the packed quantized layout
};

// Scratch of the split-KV decode partials for steps of at most `max_num_seqs` sequences.
int64_t PagedAttentionWorkspaceBytes(int32_t max_tokens, int32_t max_num_seqs, int32_t num_heads,
                                     int32_t head_dim);

// Device bytes of the LoRA slot tables and the shrink scratch for `max_rows` token rows per step.
int64_t CudaLoraTableBytes(const ModelConfig& config, int32_t num_slots, int32_t max_rank,
                           int32_t max_rows);

// The parts of the CUDA engine's step workspace, in carve order. CudaWorkspacePartBytes is the one
// table both the memory plan (CudaActivationBytes sums it) and the engine (CudaWorkspace carves
// it) read, so a new step array is one enumerator and one size here plus its pointer there.
enum class CudaWorkspacePart : int {
  kResidual,   // [T, hidden] fp32
  kNormed,     // [T, hidden] bf16
  kQkv,        // [T, q + 2 kv] bf16
  kQ,          // [T, q] bf16, rotated
  kAttn,       // [T, q] bf16
  kDelta,      // [T, hidden] bf16: o_proj / down_proj output
  kGateUp,     // [T, 2 intermediate] bf16
  kAct,        // [T, intermediate] bf16
  kSelected,   // [L, hidden] bf16: final-normed rows that need logits
  kLogits,     // [L, vocab] fp32
  kRequests,   // [L] GpuSampleRequest
  kResults,    // [L] GpuSampleResult
  kAttention,  // split-KV decode partials
  kDequant,    // bf16 [N, K] of the largest quantized Linear, above kCudaQuantGemvMaxRows rows
  kCount,
};
inline constexpr int kNumCudaWorkspaceParts = static_cast<int>(CudaWorkspacePart::kCount);

// Bytes of each part (before alignment) for T = max_num_tokens and L = min(T, logit rows/pass).
std::array<int64_t, kNumCudaWorkspaceParts> CudaWorkspacePartBytes(
    const ModelConfig& config, const CudaMemoryOptions& options);

// Bytes of a workspace part once aligned as the engine carves it (256 bytes).
int64_t CudaWorkspaceAlignedBytes(int64_t bytes);

// Values of the bf16 workspace the dequantize path needs for the largest fused Linear of `config`
// (q|k|v, o, gate|up, down); 0 when no step exceeds the GEMV's rows.
int64_t CudaQuantDequantizeElems(const ModelConfig& config, int32_t max_num_tokens);

// The engine's step workspace: the parts above, each aligned, without cuBLAS's workspace or the
// LoRA tables.
int64_t CudaActivationBytes(const ModelConfig& config, const CudaMemoryOptions& options);

// Everything but weight_bytes and the device's sizes, as CudaEngine fills them: the workspace
// (activations + cuBLAS + LoRA tables), KV block bytes, and one longest request's blocks as the
// minimum (max_model_len, or the model's context).
MemoryPlanInputs CudaMemoryPlanInputs(const ModelConfig& config, const CudaMemoryOptions& options);

// Device bytes of the CUDA engine's bf16 weights of `config` (CudaWeights' arena: every tensor
// aligned to 64 values), i.e. CudaWeights::BytesFor.
int64_t CudaBf16WeightBytes(const ModelConfig& config);

}  // namespace tessera

#endif  // TESSERA_ENGINE_MEMORY_PLAN_H_
