#include "engine/memory_plan.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/lora_weights.h"

namespace tessera {
namespace {

// The CUDA engine's allocations start 256-byte aligned; its weight tensors 64 values (128 bytes).
int64_t AlignBytes(int64_t n) { return (n + 255) / 256 * 256; }
int64_t AlignValues(int64_t n) { return (n + 63) / 64 * 64; }

std::string GiB(int64_t bytes) {
  return absl::StrFormat("%.2f GiB", static_cast<double>(bytes) / (1 << 30));
}

}  // namespace

std::string MemoryPlan::ToString() const {
  return absl::StrCat("budget ", GiB(budget_bytes), " = weights ", GiB(weight_bytes),
                      " + workspace ", GiB(workspace_bytes), " + KV ", GiB(kv_bytes), " (",
                      num_kv_blocks, " blocks)");
}

int64_t CudaKvBytesPerBlock(const ModelConfig& config, int32_t block_size) {
  return config.num_hidden_layers * 2 * int64_t{block_size} * config.num_key_value_heads *
         config.head_dim * 2;  // bf16
}

absl::StatusOr<MemoryPlan> PlanDeviceMemory(const MemoryPlanInputs& in) {
  if (!(in.gpu_memory_utilization > 0.0 && in.gpu_memory_utilization <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu memory utilization must be in (0, 1], got ", in.gpu_memory_utilization));
  }
  if (in.kv_bytes_per_block <= 0 || in.weight_bytes < 0 || in.workspace_bytes < 0) {
    return absl::InvalidArgumentError("memory plan: sizes must be non-negative");
  }
  MemoryPlan plan;
  plan.budget_bytes =
      static_cast<int64_t>(static_cast<double>(in.device_total_bytes) * in.gpu_memory_utilization);
  plan.weight_bytes = in.weight_bytes;
  plan.workspace_bytes = in.workspace_bytes;
  // What other processes already hold is not ours to plan with.
  const int64_t used_elsewhere = in.device_total_bytes - in.device_free_bytes;
  const int64_t usable = plan.budget_bytes - used_elsewhere;
  const int64_t left = usable - in.weight_bytes - in.workspace_bytes;
  const int64_t fits = left > 0 ? left / in.kv_bytes_per_block : 0;
  const int64_t want = in.num_kv_blocks > 0 ? in.num_kv_blocks : fits;
  if (want > fits || want < in.min_kv_blocks) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "device memory plan does not fit: budget ", GiB(plan.budget_bytes), " (utilization ",
        in.gpu_memory_utilization, " of ", GiB(in.device_total_bytes), ", ", GiB(used_elsewhere),
        " held by others) - weights ", GiB(in.weight_bytes), " - workspace ",
        GiB(in.workspace_bytes), " leaves room for ", fits, " KV blocks of ", in.kv_bytes_per_block,
        " bytes; need ", std::max<int64_t>(want, in.min_kv_blocks)));
  }
  plan.num_kv_blocks =
      static_cast<int32_t>(std::min<int64_t>(want, std::numeric_limits<int32_t>::max() / 2));
  plan.kv_bytes = plan.num_kv_blocks * in.kv_bytes_per_block;
  return plan;
}

int64_t PagedAttentionWorkspaceBytes(int32_t max_tokens, int32_t max_num_seqs, int32_t num_heads,
                                     int32_t head_dim) {
  // Only the split-KV decode partials use the workspace; they depend on the sequence count.
  (void)max_tokens;
  if (max_num_seqs <= 0 || num_heads <= 0 || head_dim <= 0) return 0;
  const int64_t slots = std::min<int64_t>(int64_t{max_num_seqs} * kPagedAttentionMaxSplits,
                                          kPagedAttentionSplitSlotBudget);
  return slots * num_heads * (head_dim + 2) * static_cast<int64_t>(sizeof(float));
}

int64_t CudaLoraTableBytes(const ModelConfig& config, int32_t num_slots, int32_t max_rank,
                           int32_t max_rows) {
  const int64_t descs = int64_t{num_slots} * config.num_hidden_layers * kNumLoraModules;
  return AlignBytes(descs * kLoraModuleDescBytes) +
         AlignBytes(descs * 2 * max_rank * int64_t{sizeof(void*)}) +
         AlignBytes(int64_t{max_rows} * kLoraShrinkGroup * max_rank * 4);
}

std::array<int64_t, kNumCudaWorkspaceParts> CudaWorkspacePartBytes(const ModelConfig& c,
                                                                   const CudaMemoryOptions& o) {
  using P = CudaWorkspacePart;
  const int64_t t = o.max_num_tokens, h = c.hidden_size, im = c.intermediate_size;
  const int64_t l = std::min(o.max_num_tokens, kCudaLogitRowsPerPass);
  std::array<int64_t, kNumCudaWorkspaceParts> b{};
  b[static_cast<int>(P::kResidual)] = t * h * 4;
  b[static_cast<int>(P::kNormed)] = t * h * 2;
  b[static_cast<int>(P::kQkv)] = t * (c.q_size() + 2 * c.kv_size()) * 2;
  b[static_cast<int>(P::kQ)] = t * c.q_size() * 2;
  b[static_cast<int>(P::kAttn)] = t * c.q_size() * 2;
  b[static_cast<int>(P::kDelta)] = t * h * 2;
  b[static_cast<int>(P::kGateUp)] = t * 2 * im * 2;
  b[static_cast<int>(P::kAct)] = t * im * 2;
  b[static_cast<int>(P::kSelected)] = l * h * 2;
  b[static_cast<int>(P::kLogits)] = l * c.vocab_size * 4;
  b[static_cast<int>(P::kRequests)] = l * kCudaSampleRequestBytes;
  b[static_cast<int>(P::kResults)] = l * kCudaSampleResultBytes;
  b[static_cast<int>(P::kAttention)] = PagedAttentionWorkspaceBytes(
      o.max_num_tokens, o.max_num_seqs, static_cast<int32_t>(c.num_attention_heads),
      static_cast<int32_t>(c.head_dim));
  b[static_cast<int>(P::kDequant)] =
      o.quantized ? CudaQuantDequantizeElems(c, o.max_num_tokens) * 2 : 0;
  return b;
}

int64_t CudaQuantDequantizeElems(const ModelConfig& c, int32_t max_num_tokens) {
  if (max_num_tokens <= kCudaQuantGemvMaxRows) return 0;
  const int64_t h = c.hidden_size, im = c.intermediate_size;
  return std::max({(c.q_size() + 2 * c.kv_size()) * h, h * c.q_size(), 2 * im * h, h * im});
}

int64_t CudaWorkspaceAlignedBytes(int64_t bytes) { return AlignBytes(bytes); }

int64_t CudaActivationBytes(const ModelConfig& c, const CudaMemoryOptions& o) {
  int64_t total = 0;
  for (int64_t b : CudaWorkspacePartBytes(c, o)) total += AlignBytes(b);
  return total;
}

MemoryPlanInputs CudaMemoryPlanInputs(const ModelConfig& config, const CudaMemoryOptions& o) {
  MemoryPlanInputs in;
  in.gpu_memory_utilization = o.gpu_memory_utilization;
  in.workspace_bytes = CudaActivationBytes(config, o) + kCublasWorkspaceBytes;
  if (o.max_loras > 0) {
    // One more slot than the scheduler lends: the engine's own, always empty.
    in.workspace_bytes +=
        CudaLoraTableBytes(config, o.max_loras + 1, o.max_lora_rank, o.max_num_tokens);
  }
  in.kv_bytes_per_block = CudaKvBytesPerBlock(config, o.block_size);
  in.num_kv_blocks = o.num_kv_blocks;
  // One longest request must fit, or the engine could never finish it.
  int64_t longest = o.max_model_len > 0 ? o.max_model_len : config.max_position_embeddings;
  if (longest <= 0) longest = o.max_num_tokens;
  in.min_kv_blocks = static_cast<int32_t>(
      std::min<int64_t>((longest + o.block_size - 1) / o.block_size, int64_t{1} << 20));
  if (o.num_kv_blocks > 0) in.min_kv_blocks = 1;
  return in;
}

int64_t CudaBf16WeightBytes(const ModelConfig& c) {
  const int64_t h = c.hidden_size, i = c.intermediate_size, qkv = c.q_size() + 2 * c.kv_size();
  int64_t values = AlignValues(c.vocab_size * h) + AlignValues(h);
  if (!c.tie_word_embeddings) values += AlignValues(c.vocab_size * h);
  int64_t layer = 2 * AlignValues(h) + AlignValues(qkv * h) + AlignValues(h * c.q_size()) +
                  AlignValues(2 * i * h) + AlignValues(h * i);
  if (c.qkv_bias) layer += AlignValues(qkv);
  if (c.o_bias) layer += AlignValues(h);
  if (c.mlp_bias) layer += AlignValues(2 * i) + AlignValues(h);
  return (values + c.num_hidden_layers * layer) * 2;
}

}  // namespace tessera
