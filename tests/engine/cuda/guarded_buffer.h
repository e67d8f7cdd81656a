// The CUDA parity tests' shared harness for catching stray and missing writes: NaN poison values,
// bit views, a checked upload, and a device buffer between poisoned guard elements that verifies
// its guards when it is read back. One copy instead of one per test file.
//
// Test-only; not thread-safe (one test thread drives one buffer).
#ifndef TESSERA_TESTS_ENGINE_CUDA_GUARDED_BUFFER_H_
#define TESSERA_TESTS_ENGINE_CUDA_GUARDED_BUFFER_H_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/device_buffer.h"

namespace tessera::testing {

// Guard elements on each side of a guarded buffer (a multiple of 8, so the interior keeps the
// 16-byte alignment of the allocation).
inline constexpr int64_t kGuardElements = 64;

inline uint32_t Bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}
inline uint16_t Bits(__nv_bfloat16 v) { return static_cast<__nv_bfloat16_raw>(v).x; }

// NaN patterns no kernel computes by accident: fp32 0x7fffffff, bf16 0x7fff.
template <typename T>
T Poison();
template <>
inline float Poison<float>() {
  const uint32_t b = 0x7fffffffu;
  float v;
  std::memcpy(&v, &b, sizeof(v));
  return v;
}
template <>
inline __nv_bfloat16 Poison<__nv_bfloat16>() {
  __nv_bfloat16_raw raw;
  raw.x = 0x7fff;
  return __nv_bfloat16(raw);
}
template <typename T>
bool IsPoison(T v) {
  return Bits(v) == Bits(Poison<T>());
}

// Allocates `dev` to the size of `host` and copies it there.
template <typename T>
absl::Status Upload(const std::vector<T>& host, DeviceBuffer<T>* dev) {
  if (absl::Status s = dev->Allocate(static_cast<int64_t>(host.size())); !s.ok()) return s;
  return dev->CopyFromHost(host.data(), static_cast<int64_t>(host.size()));
}

// A device buffer of `size` elements between two poisoned guards.
template <typename T>
class GuardedBuffer {
 public:
  // Interior poisoned too (a missing write stays NaN), or set to `interior` when given.
  absl::Status Init(int64_t size, const std::vector<T>* interior = nullptr) {
    size_ = size;
    std::vector<T> host(size + 2 * kGuardElements, Poison<T>());
    if (interior != nullptr) {
      std::copy(interior->begin(), interior->end(), host.begin() + kGuardElements);
    }
    return Upload(host, &buf_);
  }
  T* data() { return buf_.data() + kGuardElements; }
  int64_t size() const { return size_; }

  // Synchronizes, copies the interior back and checks that the guards still hold the poison.
  absl::Status Download(std::vector<T>* interior) {
    if (absl::Status s = CudaStatus(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); !s.ok()) {
      return s;
    }
    std::vector<T> host(size_ + 2 * kGuardElements);
    if (absl::Status s = buf_.CopyToHost(host.data(), static_cast<int64_t>(host.size())); !s.ok()) {
      return s;
    }
    for (int64_t i = 0; i < kGuardElements; ++i) {
      if (!IsPoison(host[i]) || !IsPoison(host[kGuardElements + size_ + i])) {
        return absl::DataLossError(absl::StrCat("guard element ", i, " overwritten"));
      }
    }
    interior->assign(host.begin() + kGuardElements, host.begin() + kGuardElements + size_);
    return absl::OkStatus();
  }

 private:
  DeviceBuffer<T> buf_;
  int64_t size_ = 0;
};

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_ENGINE_CUDA_GUARDED_BUFFER_H_
