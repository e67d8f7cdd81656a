// `tessera plan`'s arithmetic: what a model takes on a GPU of a given size under the CUDA engine's
// memory plan (weights, workspace, the KV page pool that KV blocks and resident LoRA adapters
// share), and, when it does not fit, what would.
//
// The workspace, KV block and adapter figures come from the engine's own code
// (engine/memory_plan.h, engine/lora_layout.h) and the bytes of quantized weights from the packed
// layout's own size function (engine/quant/packed_linear.h), with the scale and zero types each
// format typically stores (a checkpoint whose scales need fp32 takes a little more). Stateless;
// safe from any thread.
#ifndef TESSERA_CLIENT_VRAM_PLAN_H_
#define TESSERA_CLIENT_VRAM_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/memory_plan.h"
#include "engine/model_config.h"
#include "engine/quant/packed_linear.h"
#include "nlohmann/json.hpp"

namespace tessera {

// How a quantization stores the linear layers' weights (q, k, v, o, gate, up, down): the CUDA
// engine's packed layout (engine/quant/packed_linear.h) with the scale and zero types each format
// brings.
struct WeightQuantization {
  std::string name;   // --quantization's value: none, int8, int4, fp8, nf4, awq, gptq, ...
  std::string label;  // for the report: "int4 g128"
  PackedKind kind = PackedKind::kInt4;  // unused for none
  // Inputs sharing one scale (and zero): 0 = one per output channel; > 0 = groups of this many
  // along each row (NF4: blocks of the flattened tensor).
  int group = 0;
  PackedParamType scale_type = PackedParamType::kF16;
  PackedParamType zero_type = PackedParamType::kF16;
};

// InvalidArgument naming the known names for any other.
absl::StatusOr<WeightQuantization> WeightQuantizationNamed(const std::string& name);

// Published memory of the cards `--gpu` knows (rtx-3090, rtx-4090, l4, a10, a100-40gb,
// a100-80gb, h100, h200), case-insensitive; InvalidArgument listing them for any other name.
absl::StatusOr<int64_t> GpuMemoryBytes(const std::string& gpu);

// "24GiB", "80 GB", "16384MiB", "1.5TiB" or plain bytes; InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseMemorySize(const std::string& text);

struct VramPlanRequest {
  int64_t gpu_bytes = 0;
  std::string quantization = "none";
  std::string dtype = "bfloat16";  // or float16: unquantized weights (the same 2 bytes)
  CudaMemoryOptions engine;        // utilization, step budget, LoRA slots and rank, max_model_len
  int32_t adapter_rank = 0;        // the adapter size to report; 0: engine.max_lora_rank
};

struct WeightBytes {
  int64_t quantized = 0;    // the linear layers in the quantized format (0 with none)
  int64_t unquantized = 0;  // embeddings, lm_head, norms, biases (and linears with none): 2 bytes
  int64_t total() const { return quantized + unquantized; }
};

struct VramPlan {
  WeightQuantization quantization;
  WeightBytes weights;
  int64_t max_model_len = 0;
  MemoryPlanInputs inputs;  // what the engine's PlanDeviceMemory gets
  MemoryPlan plan;          // its figures (num_kv_blocks 0 when nothing is left)
  int64_t kv_bytes_per_token = 0;
  int64_t kv_tokens = 0;
  int64_t full_context_seqs = 0;  // sequences of max_model_len tokens the pool holds at once
  int32_t adapter_rank = 0;
  int32_t adapter_blocks = 0;    // KV blocks of one adapter of that rank on all seven projections
  int64_t adapters_in_pool = 0;  // such adapters that the whole pool would hold
  int64_t kv_tokens_with_resident_adapters = 0;  // after max_loras such adapters
  bool fits = false;
  std::string verdict;              // the engine's error when it does not fit
  std::vector<std::string> advice;  // what would fit (empty when it fits)
};

// InvalidArgument for bad sizes (zero GPU memory, utilization outside (0, 1], a max_model_len
// above the model's context) or an unknown quantization.
absl::StatusOr<VramPlan> PlanVram(const ModelConfig& config, const VramPlanRequest& request);

WeightBytes EstimateWeightBytes(const ModelConfig& config, const WeightQuantization& q);

std::string FormatVramPlan(const ModelConfig& config, const VramPlanRequest& request,
                           const VramPlan& plan);
nlohmann::json VramPlanJson(const VramPlanRequest& request, const VramPlan& plan);

}  // namespace tessera

#endif  // TESSERA_CLIENT_VRAM_PLAN_H_
