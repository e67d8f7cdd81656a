#include "engine/cuda/cuda_status.h"
#include "engine/cuda/device_info.h"

namespace tessera {

absl::StatusOr<std::vector<CudaDeviceInfo>> ListCudaDevices() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  // No driver or no device: the CPU-only machines (CI) see this, and it is not a failure.
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    cudaGetLastError();  // clear the sticky error
    return std::vector<CudaDeviceInfo>{};
  }
  TESSERA_CUDA_RETURN_IF_ERROR(err);
  std::vector<CudaDeviceInfo> devices;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    TESSERA_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, i));
    devices.push_back({i, prop.name, prop.major, prop.minor,
                       static_cast<int64_t>(prop.totalGlobalMem), prop.multiProcessorCount});
  }
  return devices;
}

bool IsSupportedCudaDevice(const CudaDeviceInfo& device) { return device.compute_major >= 8; }

}  // namespace tessera
