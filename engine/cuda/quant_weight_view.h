// A packed quantized Linear weight as the kernels see it: device pointers into the layout of
// engine/quant/packed_linear.h (codes, scales, zeros, perm, code book) and its shape. Plain data,
// passed by value to kernels; owned elsewhere (CudaPackedLinear, or a test's buffers).
#ifndef TESSERA_ENGINE_CUDA_QUANT_WEIGHT_VIEW_H_
#define TESSERA_ENGINE_CUDA_QUANT_WEIGHT_VIEW_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engine/quant/packed_linear.h"

// Kernels call the view's helpers too.
#if defined(__CUDACC__)
#define TESSERA_QUANT_HOST_DEVICE __host__ __device__
#else
#define TESSERA_QUANT_HOST_DEVICE
#endif

namespace tessera {

struct QuantWeightView {
  PackedKind kind = PackedKind::kInt4;
  int64_t out_features = 0;  // N
  int64_t in_features = 0;   // K
  int64_t row_bytes = 0;     // bytes per packed row, a multiple of 16
  int64_t group_size = 0;    // kInt4/kInt8/kFp8: inputs per scale (packed order)
  int64_t block_size = 0;    // kNf4: flat block size
  PackedParamType scale_type = PackedParamType::kF32;
  PackedParamType zero_type = PackedParamType::kF32;
  const uint8_t* codes = nullptr;   // [N, row_bytes], 16-byte aligned
  const void* scales = nullptr;     // [N, groups] or NF4's flat blocks
  const void* zeros = nullptr;      // [N, groups]; nullptr for kFp8, kNf4
  const int32_t* perm = nullptr;    // [K] or nullptr (identity)
  const float* codebook = nullptr;  // [16] for kNf4

  TESSERA_QUANT_HOST_DEVICE int64_t num_groups() const {
    return group_size > 0 ? in_features / group_size : 0;
  }
};

// Columns of one 16-byte vector of a packed row: 32 nibbles or 16 bytes.
inline int QuantColumnsPerVector(PackedKind kind) {
  return kind == PackedKind::kInt4 || kind == PackedKind::kNf4 ? 32 : 16;
}

// InvalidArgument naming `who` and the problem when `w` cannot be read by the kernels: null
// pointers, a row that is not whole 16-byte vectors covering K, a misaligned base, or
// (Unimplemented) groups that split a 16-byte vector (group sizes must be multiples of its columns,
// or one group).
absl::Status CheckQuantWeightView(const QuantWeightView& w, const char* who);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_QUANT_WEIGHT_VIEW_H_
