// Shared helpers of the CUDA parity tests: skipping without a device, random inputs (never zeros),
// bf16 rounding as the device stores it, and normalized errors.
#ifndef TESSERA_TESTS_ENGINE_CUDA_GPU_TEST_UTIL_H_
#define TESSERA_TESTS_ENGINE_CUDA_GPU_TEST_UTIL_H_

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/cuda/device_info.h"

namespace tessera::testing {

inline bool HaveCudaDevice() {
  absl::StatusOr<std::vector<CudaDeviceInfo>> devices = ListCudaDevices();
  return devices.ok() && !devices->empty() && IsSupportedCudaDevice(devices->front());
}

// The fixtures folder. The GPU host runs a copy of the binary away from the build tree:
// TESSERA_FIXTURES_DIR in the environment overrides the build-time path.
inline std::string FixturesDir() {
  const char* env = std::getenv("TESSERA_FIXTURES_DIR");
  return env != nullptr ? env : TESSERA_FIXTURES_DIR;
}

// Skips the calling test when no supported device is visible (CI, CPU-only machines).
#define TESSERA_SKIP_WITHOUT_GPU() \
  if (!::tessera::testing::HaveCudaDevice()) GTEST_SKIP() << "no CUDA device (sm_80+) visible"

// Fails the calling test (ASSERT: returns from it) with the status when `expr` is not OK.
#define TESSERA_ASSERT_OK(expr)                                 \
  do {                                                          \
    const absl::Status tessera_assert_ok_ = (expr);             \
    ASSERT_TRUE(tessera_assert_ok_.ok()) << tessera_assert_ok_; \
  } while (0)

// Uniform in [-scale, scale], rounded to bf16 so host and device see identical values.
inline std::vector<float> RandomBf16Values(int64_t n, float scale, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = __bfloat162float(__float2bfloat16(dist(rng)));
  return v;
}

inline std::vector<__nv_bfloat16> ToBf16(const std::vector<float>& v) {
  std::vector<__nv_bfloat16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = __float2bfloat16(v[i]);
  return out;
}

inline std::vector<float> ToFloat(const std::vector<__nv_bfloat16>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = __bfloat162float(v[i]);
  return out;
}

// ||got - want|| / ||want||, or infinity when `got` holds a NaN or Inf.
inline double NormalizedError(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_ENGINE_CUDA_GPU_TEST_UTIL_H_
