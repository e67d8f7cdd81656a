// Owning device allocations. Every allocation and copy is checked and returns a Status.
#ifndef TESSERA_ENGINE_CUDA_DEVICE_BUFFER_H_
#define TESSERA_ENGINE_CUDA_DEVICE_BUFFER_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"

namespace tessera {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      Free();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { Free(); }

  // Replaces the contents with `count` uninitialized elements.
  absl::Status Allocate(int64_t count) {
    Free();
    if (count <= 0) return absl::OkStatus();
    void* p = nullptr;
    if (absl::Status s = CudaStatus(cudaMalloc(&p, count * sizeof(T)), "cudaMalloc"); !s.ok()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("device allocation of ", count * sizeof(T), " bytes failed: ", s.message()));
    }
    data_ = static_cast<T*>(p);
    size_ = count;
    return absl::OkStatus();
  }

  absl::Status CopyFromHost(const T* host, int64_t count, cudaStream_t stream = nullptr) {
    if (count > size_) return absl::OutOfRangeError("copy larger than the device buffer");
    TESSERA_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(data_, host, count * sizeof(T), cudaMemcpyHostToDevice, stream));
    return CudaStatus(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  }
  absl::Status CopyToHost(T* host, int64_t count, cudaStream_t stream = nullptr) const {
    if (count > size_) return absl::OutOfRangeError("copy larger than the device buffer");
    TESSERA_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host, data_, count * sizeof(T), cudaMemcpyDeviceToHost, stream));
    return CudaStatus(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  int64_t size() const { return size_; }
  int64_t bytes() const { return size_ * static_cast<int64_t>(sizeof(T)); }

 private:
  void Free() {
    if (data_ != nullptr) cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  int64_t size_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_DEVICE_BUFFER_H_
