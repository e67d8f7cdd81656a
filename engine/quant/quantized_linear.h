// One quantized Linear weight in a single canonical layout, whatever format it was read from.
//
// Each format loader (awq.cc, gptq.cc, compressed_tensors.cc) unpacks its on-disk words into this
// type, so the checks and the dequantization exist once: the CPU reference engine calls
// Dequantize() at load and runs its fp32 path, and the GPU kernels (a later issue) repack from
// here and are tested against it. Values are unpacked to one byte each ([out, in] row-major, as
// PyTorch stores W) so that no format's packing order leaks past its loader.
//
// W[n][k] = (values[n][k] - zeros[g][n]) * scales[g][n] with g = g_idx[k] (or k / group_size);
// FP8: W[n][k] = fp8(values[n][k]) * scales[g][n]. Every such product of a small integer (or an
// FP8 value) and an F16/BF16 scale is exact in fp32.
// NF4 (bitsandbytes' layout, made only by on-load quantization): W = codebook[values[n][k]] *
// scales[b] where b = (n * K + k) / block_size counts flat blocks of the row-major tensor, so a
// block may span rows and the last one may be short.
//
// A value type; thread-compatible.
#ifndef TESSERA_ENGINE_QUANT_QUANTIZED_LINEAR_H_
#define TESSERA_ENGINE_QUANT_QUANTIZED_LINEAR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/checkpoint.h"
#include "engine/quant/quant_config.h"

namespace tessera {

struct QuantizedLinear {
  std::string module;  // e.g. "model.layers.0.self_attn.q_proj"
  std::string format;  // for messages, e.g. "AWQ", "GPTQ v1", "compressed-tensors FP8"
  // Tensor names for messages (the checkpoint's own names).
  std::string values_tensor, scales_tensor, zeros_tensor, g_idx_tensor;

  int64_t out_features = 0;  // N
  int64_t in_features = 0;   // K
  int32_t bits = 4;
  bool is_float = false;        // values are FP8 E4M3 bytes
  int64_t group_size = 0;       // inputs per group (K for one group per output channel)
  bool per_channel = false;     // the scheme asked for one group per output channel (for labels)
  std::vector<uint8_t> values;  // [N, K]: unsigned codes in [0, 2^bits), or FP8 bytes
  std::vector<float> scales;    // [num_groups, N]
  std::vector<float> zeros;     // [num_groups, N]; empty for FP8
  std::vector<int32_t> g_idx;   // [K] group of each input; empty: k / group_size
  // NF4: values index this code book, and scales run over flat blocks of block_size elements
  // (ceil(N*K / block_size) of them) instead of groups; zeros stay empty.
  std::vector<float> codebook;
  int64_t block_size = 0;
  // Bytes the weight occupies as stored (the checkpoint's tensors, or the on-load layout: packed
  // codes, scales, zeros), and how it reads in logs, e.g. "int4 g128 AWQ".
  int64_t stored_bytes = 0;

  bool flat_blocks() const { return block_size > 0; }
  int64_t num_groups() const { return in_features / group_size; }
  int64_t num_scales() const {
    return flat_blocks() ? (out_features * in_features + block_size - 1) / block_size
                         : num_groups() * out_features;
  }
  // "int4 g128 AWQ", "int8 channel GPTQ v1", "fp8 channel compressed-tensors FP8",
  // "nf4 b64 on-load".
  std::string Label() const;

  // Checks sizes, scales (finite, non-zero), zeros, FP8 NaN codes, code book indices and g_idx (in
  // range, every group exactly group_size members); errors name the tensor.
  absl::Status Validate() const;
  // W as fp32 [N, K] row-major; Validate()'s errors first.
  absl::StatusOr<std::vector<float>> Dequantize() const;
};

// Reads Linear `module` ([out, in]) of `checkpoint` stored as `scheme` of `config`, with the loader
// of config.method. Errors (InvalidArgument, NotFound for a missing tensor) name file and tensor.
absl::StatusOr<QuantizedLinear> LoadQuantizedLinear(const Checkpoint& checkpoint,
                                                    const QuantConfig& config,
                                                    const QuantScheme& scheme,
                                                    const std::string& module, int64_t out_features,
                                                    int64_t in_features);

// The format loaders (one file each); same contract as LoadQuantizedLinear.
absl::StatusOr<QuantizedLinear> LoadAwqLinear(const Checkpoint& checkpoint,
                                              const QuantScheme& scheme, const std::string& module,
                                              int64_t out_features, int64_t in_features);
absl::StatusOr<QuantizedLinear> LoadGptqLinear(const Checkpoint& checkpoint,
                                               const QuantScheme& scheme, bool gptq_v2,
                                               const std::string& module, int64_t out_features,
                                               int64_t in_features);
absl::StatusOr<QuantizedLinear> LoadCompressedTensorsLinear(const Checkpoint& checkpoint,
                                                            const QuantScheme& scheme,
                                                            const std::string& module,
                                                            int64_t out_features,
                                                            int64_t in_features);

}  // namespace tessera

#endif  // TESSERA_ENGINE_QUANT_QUANTIZED_LINEAR_H_
