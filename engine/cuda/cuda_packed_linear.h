// A packed quantized Linear (engine/quant/packed_linear.h) on the device: its codes, scales,
// zeros, perm and code book in one allocation, each part 256-byte aligned, and the view the
// kernels read. Owns the allocation; move-only; not thread-safe.
#ifndef TESSERA_ENGINE_CUDA_CUDA_PACKED_LINEAR_H_
#define TESSERA_ENGINE_CUDA_CUDA_PACKED_LINEAR_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/quant_weight_view.h"
#include "engine/quant/packed_linear.h"

namespace tessera {

class CudaPackedLinear {
 public:
  // Device bytes Upload allocates for `p`: p.bytes() plus the alignment of its parts.
  static int64_t DeviceBytes(const PackedLinear& p);

  // Copies `p` to the device (synchronously on `stream`).
  static absl::StatusOr<CudaPackedLinear> Upload(const PackedLinear& p, cudaStream_t stream);

  const QuantWeightView& view() const { return view_; }
  int64_t bytes() const { return buffer_.bytes(); }

 private:
  DeviceBuffer<uint8_t> buffer_;
  QuantWeightView view_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_CUDA_PACKED_LINEAR_H_
