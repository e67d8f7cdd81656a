// Parity of the quantized-weight kernels (weight-streaming GEMV, dequantize to bf16, and
// QuantGemm's choice between them + cuBLAS) with the CPU reference (QuantizedLinear::Dequantize,
// then a double-precision x W^T) on random inputs, never zeros: int4 with group sizes 32/64/128
// and per channel (odd K), act-order, int8, FP8, NF4 with blocks spanning rows; batches 1 to 257;
// odd output sizes. Outputs sit between poisoned guards, their interior poisoned too (beta 0 must
// not read y), and a NaN or Inf makes the normalized error infinite. The view checks run without
// a device.
#include "engine/cuda/quant_gemm.h"

#include <cuda_bf16.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/cuda/cuda_packed_linear.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/quant_dequantize.cuh"
#include "engine/cuda/quant_gemv.cuh"
#include "engine/quant/on_load_quantizer.h"
#include "engine/quant/packed_linear.h"
#include "tests/engine/cuda/gpu_test_util.h"
#include "tests/engine/cuda/guarded_buffer.h"
#include "tests/engine/quant/random_quantized_linear.h"

namespace tessera {
namespace {

using ::tessera::testing::Bits;
using ::tessera::testing::GuardedBuffer;
using ::tessera::testing::NormalizedError;
using ::tessera::testing::RandomBf16Values;
using ::tessera::testing::RandomCase;
using ::tessera::testing::RandomLinear;
using ::tessera::testing::ToBf16;
using ::tessera::testing::ToFloat;
using ::tessera::testing::Upload;
using ::testing::HasSubstr;

// bf16 output rounding (2^-9 relative) plus fp32 summation order; the dequantize path also rounds
// each weight to bf16.
constexpr double kMaxError = 1e-2;

// y[m][n] = sum_k x[m][k] w[n][k] (+ y0) in double.
std::vector<float> Reference(const std::vector<float>& x, const std::vector<float>& w, int64_t m,
                             int64_t n, int64_t k, const std::vector<float>* y0) {
  std::vector<float> y(static_cast<size_t>(m * n));
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t o = 0; o < n; ++o) {
      double acc = y0 != nullptr ? (*y0)[r * n + o] : 0.0;
      for (int64_t i = 0; i < k; ++i) acc += double{x[r * k + i]} * w[o * k + i];
      y[r * n + o] = static_cast<float>(acc);
    }
  }
  return y;
}

enum class Path { kGemv, kQuantGemm };

struct GpuCase {
  std::string name;
  QuantizedLinear q;
};

std::vector<GpuCase> Cases() {
  std::vector<GpuCase> cases;
  const RandomCase random[] = {
      {4, false, 37, 256, 32, false, false}, {4, false, 45, 192, 64, true, false},
      {4, false, 67, 384, 128, true, true},  {4, false, 29, 77, -1, false, true},
      {8, false, 33, 160, 32, true, false},  {8, false, 31, 77, -1, false, true},
      {8, true, 17, 53, -1, false, true},    {8, true, 19, 256, 64, false, false},
  };
  uint32_t seed = 11;
  for (const RandomCase& c : random) {
    std::ostringstream name;
    name << c;
    cases.push_back({name.str(), RandomLinear(c, seed++)});
  }
  std::mt19937 rng(5);
  for (auto [n, k] : {std::pair<int64_t, int64_t>{23, 45}, {64, 256}}) {
    std::normal_distribution<float> normal(0.0f, 0.05f);
    std::vector<float> w(static_cast<size_t>(n * k));
    for (float& v : w) v = normal(rng);
    absl::StatusOr<QuantizedLinear> q = QuantizeNf4("nf4", w, n, k, /*double_quant=*/k == 256);
    if (q.ok()) cases.push_back({"nf4 [" + std::to_string(n) + ", " + std::to_string(k) + "]", *q});
  }
  return cases;
}

class QuantGemmGpuTest : public ::testing::Test {
 protected:
  void SetUp() override { TESSERA_SKIP_WITHOUT_GPU(); }

  // Runs one case at `rows` rows through `path`, beta 0 (poisoned y) and beta 1 (random y).
  void Run(const GpuCase& c, int32_t rows, Path path) {
    SCOPED_TRACE(c.name + " rows " + std::to_string(rows));
    const int64_t n = c.q.out_features, k = c.q.in_features;
    absl::StatusOr<PackedLinear> packed = PackLinear(c.q);
    ASSERT_TRUE(packed.ok()) << packed.status();
    absl::StatusOr<CudaPackedLinear> dev = CudaPackedLinear::Upload(*packed, nullptr);
    ASSERT_TRUE(dev.ok()) << dev.status();
    absl::StatusOr<std::vector<float>> w = c.q.Dequantize();
    ASSERT_TRUE(w.ok()) << w.status();
    std::mt19937 rng(rows * 31 + n);
    const std::vector<float> x = RandomBf16Values(rows * k, 1.0f, rng);
    DeviceBuffer<__nv_bfloat16> d_x;
    TESSERA_ASSERT_OK(Upload(ToBf16(x), &d_x));
    DeviceBuffer<__nv_bfloat16> workspace;
    TESSERA_ASSERT_OK(workspace.Allocate(QuantGemmWorkspaceElems(dev->view())));
    absl::StatusOr<CublasHandle> cublas = CublasHandle::Create(nullptr);
    ASSERT_TRUE(cublas.ok()) << cublas.status();

    for (float beta : {0.0f, 1.0f}) {
      const std::vector<float> y0 = RandomBf16Values(rows * n, 0.5f, rng);
      GuardedBuffer<__nv_bfloat16> y;
      const std::vector<__nv_bfloat16> y0_bf16 = ToBf16(y0);
      TESSERA_ASSERT_OK(y.Init(rows * n, beta != 0.0f ? &y0_bf16 : nullptr));
      if (path == Path::kGemv) {
        TESSERA_ASSERT_OK(LaunchQuantGemv(dev->view(), d_x.data(), rows, y.data(), beta, nullptr));
      } else {
        TESSERA_ASSERT_OK(QuantGemm(*cublas, d_x.data(), rows, dev->view(), y.data(), beta,
                                    workspace.data(), workspace.size()));
      }
      std::vector<__nv_bfloat16> got;
      TESSERA_ASSERT_OK(y.Download(&got));
      const std::vector<float> want = Reference(x, *w, rows, n, k, beta != 0.0f ? &y0 : nullptr);
      EXPECT_LT(NormalizedError(ToFloat(got), want), kMaxError) << "beta " << beta;
    }
  }
};

TEST_F(QuantGemmGpuTest, GemvMatchesReferenceForEveryFormatAndBatch) {
  for (const GpuCase& c : Cases()) {
    for (int32_t rows : {1, 2, 5, 8, 16, 17, 33}) Run(c, rows, Path::kGemv);
  }
}

TEST_F(QuantGemmGpuTest, QuantGemmChoosesAPathThatMatchesAtEveryBatch) {
  for (const GpuCase& c : Cases()) {
    for (int32_t rows : {1, 16, 17, 64, 257}) Run(c, rows, Path::kQuantGemm);
  }
}

TEST_F(QuantGemmGpuTest, DequantizeEqualsHostDequantizeRoundedToBf16) {
  for (const GpuCase& c : Cases()) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<PackedLinear> packed = PackLinear(c.q);
    ASSERT_TRUE(packed.ok()) << packed.status();
    absl::StatusOr<CudaPackedLinear> dev = CudaPackedLinear::Upload(*packed, nullptr);
    ASSERT_TRUE(dev.ok()) << dev.status();
    const int64_t elems = c.q.out_features * c.q.in_features;
    GuardedBuffer<__nv_bfloat16> out;
    TESSERA_ASSERT_OK(out.Init(elems));
    TESSERA_ASSERT_OK(LaunchQuantDequantize(dev->view(), out.data(), elems, nullptr));
    std::vector<__nv_bfloat16> got;
    TESSERA_ASSERT_OK(out.Download(&got));
    const std::vector<float> want = DequantizePacked(*packed);
    size_t mismatches = 0;
    for (int64_t i = 0; i < elems; ++i) {
      if (Bits(got[i]) != Bits(__float2bfloat16(want[i])) && ++mismatches <= 5) {
        ADD_FAILURE() << "element " << i << ": " << __bfloat162float(got[i]) << " vs " << want[i];
      }
    }
    EXPECT_EQ(mismatches, 0u);
  }
}

// --- Argument checks (no device needed) ---------------------------------------------------------

QuantWeightView FakeView() {
  static const uint8_t* const kAligned = reinterpret_cast<const uint8_t*>(uintptr_t{4096});
  QuantWeightView v;
  v.kind = PackedKind::kInt4;
  v.out_features = 8;
  v.in_features = 256;
  v.row_bytes = 128;
  v.group_size = 128;
  v.codes = kAligned;
  v.scales = kAligned;
  v.zeros = kAligned;
  return v;
}

TEST(QuantWeightViewTest, AcceptsAWellFormedView) {
  EXPECT_TRUE(CheckQuantWeightView(FakeView(), "test").ok());
}

TEST(QuantWeightViewTest, RejectsWhatTheKernelsCannotRead) {
  QuantWeightView v = FakeView();
  v.zeros = nullptr;
  EXPECT_THAT(CheckQuantWeightView(v, "k").message(), HasSubstr("null pointer"));
  v = FakeView();
  v.row_bytes = 64;  // covers 128 of 256 inputs
  EXPECT_THAT(CheckQuantWeightView(v, "k").message(), HasSubstr("covering the inputs"));
  v = FakeView();
  v.codes += 4;
  EXPECT_THAT(CheckQuantWeightView(v, "k").message(), HasSubstr("aligned"));
  v = FakeView();
  v.group_size = 16;  // splits a 32-column vector
  const absl::Status s = CheckQuantWeightView(v, "k");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("group size 16"));
  v = FakeView();
  v.group_size = 96;  // does not divide 256
  EXPECT_THAT(CheckQuantWeightView(v, "k").message(), HasSubstr("does not divide"));
}

TEST(QuantWeightViewTest, LaunchersRefuseBadArgumentsBeforeTouchingTheDevice) {
  QuantWeightView v = FakeView();
  EXPECT_THAT(LaunchQuantGemv(v, nullptr, 1, nullptr, 0.0f, nullptr).message(),
              HasSubstr("non-null"));
  EXPECT_THAT(LaunchQuantGemv(v, nullptr, 1, nullptr, 0.5f, nullptr).message(), HasSubstr("beta"));
  EXPECT_THAT(LaunchQuantDequantize(v, nullptr, 8 * 256, nullptr).message(),
              HasSubstr("workspace"));
  auto* fake = reinterpret_cast<__nv_bfloat16*>(uintptr_t{4096});
  EXPECT_THAT(LaunchQuantDequantize(v, fake, 8 * 256 - 1, nullptr).message(),
              HasSubstr("needs 2048"));
}

}  // namespace
}  // namespace tessera
