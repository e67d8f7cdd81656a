// The CUDA devices this process can see, and the toolkit it was built with.
#ifndef TESSERA_ENGINE_CUDA_DEVICE_INFO_H_
#define TESSERA_ENGINE_CUDA_DEVICE_INFO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  int64_t total_memory_bytes = 0;
  int num_sms = 0;
};

// Visible devices; empty (not an error) when the machine has no GPU or no driver.
absl::StatusOr<std::vector<CudaDeviceInfo>> ListCudaDevices();

// True when `device` can run this build's kernels (sm_80 or newer).
bool IsSupportedCudaDevice(const CudaDeviceInfo& device);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_DEVICE_INFO_H_
