// The decoder Linears of a quantized model on the device, in the kernels' packed layout: read
// once at load (a pre-quantized checkpoint's format loader, or on-load quantization of its float
// weights), repacked (PackLinear), fused like the bf16 engine's (q|k|v and gate|up, ConcatRows)
// and uploaded. The rest of the model (embeddings, norms, lm_head, biases) stays in CudaWeights.
//
// Owns the device allocations; move-only; not thread-safe.
#ifndef TESSERA_ENGINE_CUDA_CUDA_QUANT_LINEARS_H_
#define TESSERA_ENGINE_CUDA_CUDA_QUANT_LINEARS_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/checkpoint.h"
#include "engine/cuda/cuda_packed_linear.h"
#include "engine/model_config.h"
#include "engine/quant/on_load_quantizer.h"
#include "engine/weight_tally.h"

namespace tessera {

// The kind of packed weight on-load quantization `method` makes (kNone: none).
std::optional<PackedKind> PackedKindOf(OnLoadMethod method);

struct CudaQuantLayer {
  CudaPackedLinear qkv;      // [q + 2 kv, hidden]
  CudaPackedLinear o;        // [hidden, q]
  CudaPackedLinear gate_up;  // [2 intermediate, hidden]
  CudaPackedLinear down;     // [hidden, intermediate]
};

class CudaQuantLinears {
 public:
  // Whether the decoder Linears of `config` run quantized: a pre-quantized checkpoint, or on-load
  // quantization asked for.
  static bool Wanted(const ModelConfig& config, const OnLoadQuantization& on_load);

  // Reads, repacks, fuses and uploads every decoder Linear (synchronously on `stream`); adds each
  // format's bytes to `tally` (may be null). Errors name the module: a Linear the checkpoint
  // leaves unquantized while others are quantized is Unimplemented (the engine runs all of a
  // model's Linears one way).
  static absl::StatusOr<CudaQuantLinears> Load(const ModelConfig& config,
                                               const Checkpoint& checkpoint,
                                               const OnLoadQuantization& on_load,
                                               cudaStream_t stream, WeightTally* tally);

  // Random codes of `kind` for every layer's fused Linears (benchmark shapes without files);
  // |W| below about `scale`. Deterministic in `seed`.
  static absl::StatusOr<CudaQuantLinears> Random(const ModelConfig& config, PackedKind kind,
                                                 float scale, uint64_t seed, cudaStream_t stream);

  const std::vector<CudaQuantLayer>& layers() const { return layers_; }
  int64_t bytes() const { return bytes_; }

 private:
  std::vector<CudaQuantLayer> layers_;
  int64_t bytes_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_CUDA_QUANT_LINEARS_H_
