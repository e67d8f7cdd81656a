#include "engine/engine_loader.h"

#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/cpu/cpu_engine.h"
#include "engine/model_config.h"
#include "engine/quant/on_load_quantizer.h"
#include "engine/weight_load_options.h"
#ifdef TESSERA_WITH_CUDA
#include "engine/cuda/cuda_engine.h"
#endif

namespace tessera {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Bytes of K and V for one token over all layers, at `bytes_per_value`.
int64_t KvBytesPerToken(const ModelConfig& c, int64_t bytes_per_value) {
  return 2 * c.num_hidden_layers * c.kv_size() * bytes_per_value;
}

std::string CpuMemoryPlan(const CpuEngine& engine) {
  const KvCacheGeometry g = engine.kv_geometry();
  const int64_t tokens = int64_t{g.num_blocks} * g.block_size;
  const double weights = static_cast<double>(engine.weights().NumParameters()) * sizeof(float);
  const double kv = static_cast<double>(tokens * KvBytesPerToken(engine.config(), sizeof(float)));
  return absl::StrFormat(
      "cpu (fp32): weights %.3f GiB, KV cache %.3f GiB = %d blocks x %d tokens = %d tokens; stored "
      "as %s",
      weights / kGiB, kv / kGiB, g.num_blocks, g.block_size, tokens,
      engine.weights().stored.ToString());
}

}  // namespace

absl::StatusOr<LoadedEngine> LoadEngine(const std::string& model_dir, const EngineLoadOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  PhaseTimer phases;
  LoadedEngine out;
  if (o.weight_load_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--num-weight-load-threads must be 0 (one per hardware thread) or more, got ",
                     o.weight_load_threads));
  }
  absl::StatusOr<WeightDType> dtype = ParseDTypeFlag(o.dtype);
  if (!dtype.ok()) return dtype.status();
  const std::optional<OnLoadMethod> on_load = OnLoadMethodNamed(o.quantization);
  if (o.nf4_double_quant && on_load != OnLoadMethod::kNf4) {
    return absl::InvalidArgumentError(
        "--nf4-double-quant applies to --quantization nf4 (or bitsandbytes) only");
  }
  if (o.backend == "cuda") {
    if (on_load.has_value()) {
      return absl::UnimplementedError(absl::StrCat(
          "--quantization ", o.quantization,
          ": on-load quantization on CUDA is not supported yet (issue 20); use --backend cpu"));
    }
    if (*dtype == WeightDType::kFloat16 || *dtype == WeightDType::kFloat32) {
      return absl::UnimplementedError(
          absl::StrCat("--dtype ", WeightDTypeName(*dtype),
                       ": the CUDA engine computes in bfloat16; use --dtype auto or bfloat16"));
    }
  }
  if (!o.quantization.empty() || o.backend == "cuda") {
    // Read once for both checks. Without --quantization, a config that does not parse is left to
    // the engine's own load for its error.
    absl::StatusOr<ModelConfig> config = LoadModelConfig(model_dir);
    if (!config.ok() && !o.quantization.empty()) return config.status();
    if (config.ok() && !o.quantization.empty()) {
      if (absl::Status s = CheckQuantizationFlag(o.quantization, config->quantization); !s.ok()) {
        return s;
      }
    }
    // Said before "no CUDA in this build" too: a quantized model would not run on CUDA either.
    if (config.ok() && o.backend == "cuda") {
      if (absl::Status s = RefuseQuantizedOnCuda(config->quantization); !s.ok()) return s;
    }
  }
  if (o.backend == "cuda") {
#ifdef TESSERA_WITH_CUDA
    CudaEngineOptions eo;
    eo.block_size = o.block_size;
    eo.num_kv_blocks = o.num_kv_blocks;
    eo.gpu_memory_utilization = o.gpu_memory_utilization;
    eo.max_num_tokens = o.max_num_batched_tokens;
    eo.max_num_seqs = o.max_num_seqs;
    eo.max_loras = o.max_loras;
    eo.max_lora_rank = o.max_lora_rank;
    eo.max_model_len = o.max_model_len;
    eo.weight_load_threads = o.weight_load_threads;
    auto engine = CudaEngine::Load(model_dir, eo, &phases);
    if (!engine.ok()) return engine.status();
    const WeightLoadStats& ls = (*engine)->load_stats();
    const KvCacheGeometry g = (*engine)->kv_geometry();
    out.memory_plan = absl::StrFormat(
        "cuda (bf16): %s; %d KV tokens (LoRA adapters borrow KV blocks); weights read at %.2f GB/s",
        (*engine)->memory_plan().ToString(), int64_t{g.num_blocks} * g.block_size,
        ls.GBPerSecond());
    out.engine = *std::move(engine);
#else
    return absl::UnimplementedError(
        "--backend cuda: this build has no CUDA backend (configure with -DTESSERA_CUDA=ON)");
#endif
  } else if (o.backend == "cpu") {
    CpuEngineOptions eo;
    eo.block_size = o.block_size;
    eo.num_kv_blocks = o.num_kv_blocks;
    eo.kv_cache_bytes = o.kv_cache_bytes;
    eo.num_threads = o.threads;
    eo.max_loras = o.max_loras;
    eo.max_model_len = o.max_model_len;
    eo.weights.dtype = *dtype;
    if (on_load.has_value()) eo.weights.quantization = {*on_load, o.nf4_double_quant};
    eo.weights.num_threads = o.weight_load_threads;
    auto engine = CpuEngine::Load(model_dir, eo, &phases);
    if (!engine.ok()) return engine.status();
    out.memory_plan = CpuMemoryPlan(**engine);
    out.engine = *std::move(engine);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--backend must be cpu or cuda, got \"", o.backend, "\""));
  }
  out.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.phases = phases.phases();
  return out;
}

}  // namespace tessera
