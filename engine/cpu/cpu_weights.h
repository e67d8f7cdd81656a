// The model's weights as fp32 on the host: what the CPU reference computes with.
//
// Built from a checkpoint (bf16/f16/f32 converted exactly, or rounded to --dtype; pre-quantized
// AWQ, GPTQ and compressed-tensors Linears dequantized exactly, engine/quant/; on-load
// int8/int4/fp8/nf4 quantized, then dequantized) or from random values (benchmarks of model shapes
// without files). Immutable after construction.
#ifndef TESSERA_ENGINE_CPU_CPU_WEIGHTS_H_
#define TESSERA_ENGINE_CPU_CPU_WEIGHTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/checkpoint.h"
#include "engine/model_config.h"
#include "engine/weight_load_options.h"
#include "engine/weight_tally.h"

namespace tessera {

// A [rows, cols] row-major matrix with an optional bias of `rows` entries (empty = none).
struct CpuLinear {
  std::vector<float> weight;
  std::vector<float> bias;
  int64_t rows = 0;  // output features
  int64_t cols = 0;  // input features
};

struct CpuLayerWeights {
  std::vector<float> input_norm;
  std::vector<float> post_attention_norm;
  CpuLinear q, k, v, o;
  CpuLinear gate, up, down;
};

struct CpuWeights {
  std::vector<float> embedding;  // [vocab, hidden]
  std::vector<float> final_norm;
  CpuLinear lm_head;  // a copy of the embedding when tied
  std::vector<CpuLayerWeights> layers;

  // The weights as the checkpoint or the on-load quantization stores them (what a GPU holds);
  // empty for Random().
  WeightTally stored;

  size_t NumParameters() const;

  // With `options`, unquantized weights are rounded to --dtype and an unquantized checkpoint's
  // decoder Linears quantized on load, then dequantized: the fp32 path computes with exactly the
  // weights the quantized representation holds. Tensors are converted on options.num_threads
  // threads, in chunks; the bits, the tally and the first error (in tensor order) do not depend
  // on the count. No state outlives the call: loading again (a wake from sleep) is the same.
  static absl::StatusOr<CpuWeights> FromCheckpoint(const ModelConfig& config,
                                                   const Checkpoint& checkpoint,
                                                   const WeightLoadOptions& options = {});
  // Uniform values in [-scale, scale]; norms around 1 so activations stay in range.
  static CpuWeights Random(const ModelConfig& config, uint64_t seed, float scale = 0.05f);
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_CPU_WEIGHTS_H_
