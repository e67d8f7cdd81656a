// Writes Linear weights in the on-disk formats of pre-quantized checkpoints, with the
// `quantization_config` that announces them: AWQ "gemm", GPTQ (v1 "gptq" and "gptq_v2"),
// compressed-tensors "pack-quantized" (int4/int8) and "float-quantized" (FP8 E4M3). For tests and
// benchmarks of the readers in engine/quant/.
//
// Written from the layouts in ../shared/fixtures/README.md ("Quantized checkpoints") and the
// quantizers' conventions, not from the readers, so that a reader test compares two independent
// readings of a format. The writer quantizes a float W itself (round to nearest even; symmetric:
// scale = absmax / qmax; with zero points: min/max affine) and returns the W its tensors encode.
// Every encoded value is a small integer (or an FP8 value) times an F16/BF16 scale, exact in fp32,
// so a correct reader reproduces it bit for bit.
//
// Stateless functions; thread-safe.
#ifndef TESSERA_AUTHORING_QUANT_CHECKPOINT_WRITER_H_
#define TESSERA_AUTHORING_QUANT_CHECKPOINT_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "authoring/safetensors_writer.h"
#include "engine/dtype.h"

namespace tessera {

enum class QuantFormat : uint8_t {
  kAwq,               // AWQ "gemm": 4-bit with zero points; qweight, qzeros, scales
  kGptq,              // GPTQ, symmetric: qweight, qzeros, scales, g_idx
  kCompressedInt,     // compressed-tensors "pack-quantized": weight_packed, weight_scale, ...
  kCompressedFloat8,  // compressed-tensors "float-quantized": FP8 E4M3 weight, weight_scale
};

struct QuantWriteScheme {
  QuantFormat format = QuantFormat::kAwq;
  int32_t bits = 4;          // AWQ: 4; GPTQ and compressed-tensors int: 4 or 8; FP8: 8
  int64_t group_size = 128;  // inputs per scale; -1: one group per output channel
  bool gptq_v2 = false;      // GPTQ: store zero points as they are ("gptq_v2"), not minus one
  // GPTQ desc_act / compressed-tensors actorder "group": the inputs are quantized in a shuffled
  // order (seeded by act_order_seed) and a group holds group_size consecutive inputs of that order,
  // scattered over K; g_idx (weight_g_idx) records each input's group.
  bool act_order = false;
  uint64_t act_order_seed = 0;
  // compressed-tensors int: false stores min/max zero points (weight_zero_point). AWQ always
  // stores zero points; GPTQ is written symmetric.
  bool symmetric = true;
  bool fp8_tensor_scale = false;     // FP8: one scale for the tensor ("tensor"), not per row
  DType scale_dtype = DType::kBF16;  // compressed-tensors weight_scale: BF16, F16 or F32
};

// One Linear's tensors and what they mean.
struct QuantizedLinearTensors {
  std::vector<TensorToWrite> tensors;  // named `module` + ".qweight", ".weight_scale", ...
  std::vector<float> dequantized;      // [N, K] row-major: the W the tensors encode
};

// Quantizes `w` ([out_features, in_features] row-major, as PyTorch stores a Linear's weight) of
// Linear `module` (e.g. "model.layers.0.self_attn.q_proj") in `scheme`. InvalidArgument for a
// scheme the format does not have, shapes the packing does not divide, a non-finite weight, or a
// scale the scale dtype cannot hold.
absl::StatusOr<QuantizedLinearTensors> QuantizeLinearTensors(const QuantWriteScheme& scheme,
                                                             const std::string& module,
                                                             absl::Span<const float> w,
                                                             int64_t out_features,
                                                             int64_t in_features);

// The `quantization_config` object for config.json, as JSON text (field names and values as the
// format's quantizer writes them; every decoder Linear quantized, lm_head left out).
absl::StatusOr<std::string> QuantizationConfigJson(const QuantWriteScheme& scheme);

// Writes a copy of the float model folder `src_dir` (config.json and safetensors, e.g. one that
// WriteRandomCheckpoint made) into `dst_dir` as one model.safetensors, with every decoder-layer
// Linear weight quantized by `scheme` and config.json given the matching quantization_config;
// other tensors are copied unchanged. `dequantized`, when not null, receives each quantized
// module's encoded W by module name.
absl::Status WriteQuantizedCheckpoint(
    const std::string& src_dir, const std::string& dst_dir, const QuantWriteScheme& scheme,
    std::map<std::string, std::vector<float>>* dequantized = nullptr);

}  // namespace tessera

#endif  // TESSERA_AUTHORING_QUANT_CHECKPOINT_WRITER_H_
