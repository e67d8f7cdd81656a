#include "engine/cuda/memory_plan.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {
namespace {

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

}  // namespace tessera
