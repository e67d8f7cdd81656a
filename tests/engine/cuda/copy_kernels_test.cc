// Parity of the two copy kernels that had no test of their own: broadcast_rows (a bias laid into a
// GEMM's output rows) and lora_scatter (an adapter image copied from mapped host memory into
// scattered KV chunks). Both must reproduce the host's copy bit for bit and write nothing else:
// outputs sit between poisoned guards, and everything a copy does not cover stays poisoned.
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "engine/cuda/broadcast_rows.cuh"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/lora_scatter.cuh"
#include "tests/engine/cuda/gpu_test_util.h"
#include "tests/engine/cuda/guarded_buffer.h"

namespace tessera {
namespace {

using ::tessera::testing::Bits;
using ::tessera::testing::GuardedBuffer;
using ::tessera::testing::IsPoison;
using ::tessera::testing::RandomBf16Values;
using ::tessera::testing::ToBf16;
using ::tessera::testing::Upload;

TEST(BroadcastRowsCudaTest, EveryRowIsTheRowBitForBit) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937 rng(1);
  for (int32_t cols : {1, 7, 64, 4099}) {
    for (int32_t rows : {1, 3, 257}) {
      SCOPED_TRACE(::testing::Message() << rows << " x " << cols);
      const std::vector<__nv_bfloat16> row = ToBf16(RandomBf16Values(cols, 2.0f, rng));
      DeviceBuffer<__nv_bfloat16> d_row;
      TESSERA_ASSERT_OK(Upload(row, &d_row));
      GuardedBuffer<__nv_bfloat16> out;
      TESSERA_ASSERT_OK(out.Init(int64_t{rows} * cols));
      TESSERA_ASSERT_OK(LaunchBroadcastRows(d_row.data(), rows, cols, out.data(), nullptr));
      std::vector<__nv_bfloat16> got;
      TESSERA_ASSERT_OK(out.Download(&got));
      int64_t wrong = 0;
      for (int64_t i = 0; i < int64_t{rows} * cols; ++i) {
        wrong += Bits(got[i]) != Bits(row[i % cols]) ? 1 : 0;
      }
      EXPECT_EQ(wrong, 0);
    }
  }
}

// Pinned host memory mapped into the device's address space, as DeviceLoraPool stages a load.
class MappedHost {
 public:
  ~MappedHost() {
    if (host_ != nullptr) cudaFreeHost(host_);
  }
  absl::Status Init(size_t bytes) {
    TESSERA_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&host_, bytes, cudaHostAllocMapped));
    return CudaStatus(cudaHostGetDevicePointer(&device_, host_, 0), "cudaHostGetDevicePointer");
  }
  void* host() { return host_; }
  void* device() { return device_; }

 private:
  void* host_ = nullptr;
  void* device_ = nullptr;
};

TEST(LoraScatterCudaTest, CopiesEveryRunToItsChunkAndNothingElse) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937 rng(2);
  // Runs of 8-value multiples from a packed image into a poisoned pool, out of order, one at the
  // pool's very end, one long enough to need many threads.
  const int64_t pool = 8 * 1024;
  struct Run {
    int64_t count, dst;
  };
  const std::vector<Run> runs = {{8, 4096}, {64, 0}, {8, pool - 8}, {2048, 1024}, {16, 8}};
  int64_t image_len = 0;
  for (const Run& r : runs) image_len += r.count;
  const std::vector<__nv_bfloat16> image = ToBf16(RandomBf16Values(image_len, 1.0f, rng));
  GuardedBuffer<__nv_bfloat16> out;
  TESSERA_ASSERT_OK(out.Init(pool));
  MappedHost staging;
  TESSERA_ASSERT_OK(
      staging.Init(image.size() * sizeof(__nv_bfloat16) + runs.size() * sizeof(LoraCopy)));
  auto* h_image = static_cast<__nv_bfloat16*>(staging.host());
  std::copy(image.begin(), image.end(), h_image);
  auto* h_copies = reinterpret_cast<LoraCopy*>(h_image + image.size());
  std::vector<__nv_bfloat16> want(pool);
  for (int64_t i = 0; i < pool; ++i) want[i] = ::tessera::testing::Poison<__nv_bfloat16>();
  int64_t at = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    h_copies[i] = {at, runs[i].count, out.data() + runs[i].dst};
    for (int64_t j = 0; j < runs[i].count; ++j) want[runs[i].dst + j] = image[at + j];
    at += runs[i].count;
  }
  auto* d_image = static_cast<const __nv_bfloat16*>(staging.device());
  const auto* d_copies = reinterpret_cast<const LoraCopy*>(d_image + image.size());
  TESSERA_ASSERT_OK(
      LaunchLoraScatter(d_image, d_copies, static_cast<int32_t>(runs.size()), nullptr));
  std::vector<__nv_bfloat16> got;
  TESSERA_ASSERT_OK(out.Download(&got));
  int64_t wrong = 0, untouched = 0;
  for (int64_t i = 0; i < pool; ++i) {
    wrong += Bits(got[i]) != Bits(want[i]) ? 1 : 0;
    untouched += IsPoison(got[i]) ? 1 : 0;
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(untouched, pool - image_len);  // proves the comparison saw both kinds of element
}

}  // namespace
}  // namespace tessera
