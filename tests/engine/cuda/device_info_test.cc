#include "engine/cuda/device_info.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

TEST(DeviceInfoTest, ListsDevicesOrNone) {
  absl::StatusOr<std::vector<CudaDeviceInfo>> devices = ListCudaDevices();
  ASSERT_TRUE(devices.ok()) << devices.status();
  if (devices->empty()) GTEST_SKIP() << "no CUDA device visible";
  for (const CudaDeviceInfo& d : *devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.total_memory_bytes, 0);
    EXPECT_GT(d.num_sms, 0);
    EXPECT_GE(d.compute_major, 3);
  }
}

}  // namespace
}  // namespace tessera
