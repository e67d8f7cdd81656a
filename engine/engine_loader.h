// Opens a model directory on the chosen backend with the options that the offline runner and the
// daemon share, and describes the memory the engine took (the plan both log at start).
#ifndef TESSERA_ENGINE_ENGINE_LOADER_H_
#define TESSERA_ENGINE_ENGINE_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/phase_timer.h"

namespace tessera {

// --quantization's help text, shared by tesserad and tessera generate.
inline constexpr char kQuantizationFlagHelp[] =
    "As in vLLM: a pre-quantized checkpoint's format (awq | gptq | compressed-tensors), detected "
    "from config.json so the flag only has to agree; or on-load quantization of an unquantized "
    "checkpoint's linear layers: int8 (per channel), int4 (groups of 128, zero point), fp8 (E4M3, "
    "per channel), nf4 | bitsandbytes (QLoRA's NormalFloat-4, blocks of 64). Default: the "
    "checkpoint's";
inline constexpr char kDTypeFlagHelp[] =
    "Type of unquantized weights, as in vLLM: auto (the checkpoint's; bf16 on CUDA) | bfloat16 | "
    "float16 (half) | float32 (float). The CPU engine computes in fp32 and rounds the weights to "
    "this type; CUDA supports auto and bfloat16";
inline constexpr char kWeightLoadThreadsFlagHelp[] =
    "Threads that read the checkpoint's shards and convert its tensors at start (as vLLM-Omni's "
    "--num-weight-load-threads; vLLM's model-loader-extra-config num_threads); the weights are "
    "the same bits for any count. 0: one per hardware thread";
inline constexpr char kNf4DoubleQuantFlagHelp[] =
    "With --quantization nf4: also quantize the per-block absmax (QLoRA's double quantization, "
    "bitsandbytes' bnb_4bit_use_double_quant)";

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
  bool nf4_double_quant = false;  // --nf4-double-quant
  std::string dtype = "auto";     // vLLM's --dtype
  // --num-weight-load-threads: threads that read and convert the checkpoint (the same bits for
  // any count); 0: the hardware's count.
  int32_t weight_load_threads = 0;
};

struct LoadedEngine {
  std::unique_ptr<Engine> engine;
  double load_seconds = 0;
  // Where load_seconds went: model_open, [device_init,] weights, kv_alloc (engine/phase_timer.h).
  std::vector<PhaseTimer::Phase> phases;
  // One line: weights, workspace and KV bytes, blocks and token capacity.
  std::string memory_plan;
};

// InvalidArgument for an unknown backend, --dtype or a --quantization that disagrees with the
// checkpoint; Unimplemented for a CUDA request to a build without CUDA, or a quantized checkpoint,
// on-load quantization or float16 on CUDA; the engine's own errors otherwise (NotFound for a
// missing directory).
absl::StatusOr<LoadedEngine> LoadEngine(const std::string& model_dir,
                                        const EngineLoadOptions& options);

}  // namespace tessera

#endif  // TESSERA_ENGINE_ENGINE_LOADER_H_
