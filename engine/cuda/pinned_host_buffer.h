// Page-locked host memory (cudaMallocHost) owned by one object: where sleep level 1 keeps the
// weights while the device copy is freed, so the wake copies them back at the bus's full rate.
//
// Move-only; not thread-safe.
#ifndef TESSERA_ENGINE_CUDA_PINNED_HOST_BUFFER_H_
#define TESSERA_ENGINE_CUDA_PINNED_HOST_BUFFER_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"

namespace tessera {

class PinnedHostBuffer {
 public:
  PinnedHostBuffer() = default;
  PinnedHostBuffer(const PinnedHostBuffer&) = delete;
  PinnedHostBuffer& operator=(const PinnedHostBuffer&) = delete;
  PinnedHostBuffer(PinnedHostBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  PinnedHostBuffer& operator=(PinnedHostBuffer&& other) noexcept {
    if (this != &other) {
      Free();
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  ~PinnedHostBuffer() { Free(); }

  // Replaces the contents with `bytes` uninitialized bytes; ResourceExhausted when the host
  // cannot pin that much.
  absl::Status Allocate(int64_t bytes) {
    Free();
    if (bytes <= 0) return absl::OkStatus();
    void* p = nullptr;
    if (absl::Status s = CudaStatus(cudaMallocHost(&p, bytes), "cudaMallocHost"); !s.ok()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("pinned host allocation of ", bytes, " bytes failed: ", s.message()));
    }
    data_ = p;
    bytes_ = bytes;
    return absl::OkStatus();
  }
  void Free() {
    if (data_ != nullptr) cudaFreeHost(data_);
    data_ = nullptr;
    bytes_ = 0;
  }

  void* data() { return data_; }
  const void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_PINNED_HOST_BUFFER_H_
