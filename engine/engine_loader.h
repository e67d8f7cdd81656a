// Opens a model directory on the chosen backend with the options that the offline runner and the
// daemon share, and describes the memory the engine took (the plan both log at start).
#ifndef TESSERA_ENGINE_ENGINE_LOADER_H_
#define TESSERA_ENGINE_ENGINE_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace tessera {

// --quantization's help text, shared by tesserad and tessera generate.
inline constexpr char kQuantizationFlagHelp[] =
    "Pre-quantized checkpoint format, as in vLLM (awq | gptq | compressed-tensors); detected from "
    "config.json, so the flag only has to agree. Default: the checkpoint's";

struct EngineLoadOptions {
  std::string backend = "cpu";  // "cpu" | "cuda"
  int32_t block_size = kDefaultBlockSize;
  int32_t num_kv_blocks = 0;                  // > 0: exactly this many KV blocks
  int64_t kv_cache_bytes = int64_t{1} << 30;  // cpu: KV storage when num_kv_blocks is 0
  int32_t threads = 0;                        // cpu: 0 = all cores
  double gpu_memory_utilization = 0.9;        // cuda: share of the card for the engine
  int32_t max_num_batched_tokens = 2048;      // cuda: sizes the workspace
  int32_t max_num_seqs = 256;
  int32_t max_loras = 8;       // LoRA adapter slots
  int32_t max_lora_rank = 64;  // cuda: sizes the adapter tables and the shrink scratch
  int64_t max_model_len = 0;   // --max-model-len: the longest request; 0 = the model's context
  // vLLM's --quantization: "" (not given) or a name that must agree with the checkpoint's
  // quantization_config (engine/quant/quant_config.h, CheckQuantizationFlag).
  std::string quantization;
};

struct LoadedEngine {
  std::unique_ptr<Engine> engine;
  double load_seconds = 0;
  // One line: weights, workspace and KV bytes, blocks and token capacity.
  std::string memory_plan;
};

// InvalidArgument for an unknown backend or a --quantization that disagrees with the checkpoint;
// Unimplemented for a CUDA request to a build without CUDA, a quantized checkpoint on CUDA or
// on-load quantization; the engine's own errors otherwise (NotFound for a missing directory).
absl::StatusOr<LoadedEngine> LoadEngine(const std::string& model_dir,
                                        const EngineLoadOptions& options);

}  // namespace tessera

#endif  // TESSERA_ENGINE_ENGINE_LOADER_H_
