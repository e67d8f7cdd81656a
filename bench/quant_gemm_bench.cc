// Quantized-linear microbenchmark: the decoder Linears of one layer (q|k|v, o, gate|up, down) of
// the Llama-3-8B or Llama-3.2-1B shape, as bf16 cuBLAS GEMMs and as QuantGemm over packed int8,
// int4 (g128), FP8 and NF4 weights with random codes (RandomPackedLinear), at decode batches and a
// prefill. Prints per row: the median time of the layer's Linears, tokens/s of those Linears alone,
// the ratio to bf16 measured in the same run, and the weight bytes read per second against the
// device-to-device copy ceiling (bytes read + written). Kernel parity is tested in
// tests/engine/cuda/quant_gemm_test; run it first. Not the engine end to end: attention, norms
// and sampling are not in these figures.
//
//   quant_gemm_bench [--shape llama-3-8b|llama-3.2-1b] [--quantization none,int8,int4,fp8,nf4]
//                    [--batches 1,16,64,256,8192]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "engine/cuda/cuda_packed_linear.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/quant_gemm.h"
#include "engine/cuda/random_fill.cuh"
#include "engine/dtype.h"
#include "engine/quant/packed_linear.h"
#include "engine/quant/random_packed_linear.h"

namespace tessera {
namespace {

struct Shape {
  int64_t out, in;
};

void Check(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
  std::exit(1);
}
void Check(cudaError_t e, const char* what) { Check(CudaStatus(e, what), what); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of `run` over `reps` timed calls after 3 warm-ups.
template <typename F>
double Time(F run, int reps) {
  cudaEvent_t e0, e1;
  Check(cudaEventCreate(&e0), "event");
  Check(cudaEventCreate(&e1), "event");
  for (int i = 0; i < 3; ++i) run();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    Check(cudaEventRecord(e0), "record");
    run();
    Check(cudaEventRecord(e1), "record");
    Check(cudaEventSynchronize(e1), "sync");
    float ms = 0;
    Check(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
    t.push_back(ms / 1e3);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return Median(t);
}

double CopyCeiling() {
  const size_t bytes = size_t{1} << 30;
  DeviceBuffer<char> a, b;
  Check(a.Allocate(bytes), "alloc");
  Check(b.Allocate(bytes), "alloc");
  Check(cudaMemset(a.data(), 1, bytes), "memset");
  return 2.0 * bytes /
         Time(
             [&] {
               Check(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice), "copy");
             },
             10);
}

std::optional<PackedKind> KindNamed(const std::string& q) {
  if (q == "int8") return PackedKind::kInt8;
  if (q == "int4") return PackedKind::kInt4;
  if (q == "fp8") return PackedKind::kFp8;
  if (q == "nf4") return PackedKind::kNf4;
  return std::nullopt;
}

int Main(int argc, char** argv) {
  CLI::App app{"quantized Linear microbenchmark"};
  std::string shape_name = "llama-3-8b";
  std::vector<std::string> quantizations = {"none", "int8", "int4", "fp8", "nf4"};
  std::vector<int64_t> batches = {1, 16, 64, 256, 8192};
  app.add_option("--shape", shape_name, "llama-3-8b or llama-3.2-1b");
  app.add_option("--quantization", quantizations, "none, int8, int4, fp8, nf4")->delimiter(',');
  app.add_option("--batches", batches, "token rows per step")->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  std::vector<Shape> shapes;
  if (shape_name == "llama-3-8b") {
    shapes = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}};
  } else if (shape_name == "llama-3.2-1b") {
    shapes = {{3072, 2048}, {2048, 2048}, {16384, 2048}, {2048, 8192}};
  } else {
    std::fprintf(stderr, "--shape: unknown \"%s\"\n", shape_name.c_str());
    return 2;
  }
  const int64_t max_rows = *std::max_element(batches.begin(), batches.end());
  int64_t max_in = 0, max_out = 0, max_weight = 0;
  for (const Shape& s : shapes) {
    max_in = std::max(max_in, s.in);
    max_out = std::max(max_out, s.out);
    max_weight = std::max(max_weight, s.out * s.in);
  }
  const double ceiling = CopyCeiling();
  std::printf("shape %s, copy ceiling %.0f GB/s (read + write)\n", shape_name.c_str(),
              ceiling / 1e9);
  absl::StatusOr<CublasHandle> cublas = CublasHandle::Create(nullptr);
  Check(cublas.status(), "cublas");
  DeviceBuffer<__nv_bfloat16> x, y, workspace;
  Check(x.Allocate(max_rows * max_in), "alloc x");
  Check(y.Allocate(max_rows * max_out), "alloc y");
  Check(workspace.Allocate(max_weight), "alloc workspace");
  Check(LaunchRandomFillBf16(x.data(), x.size(), -1.0f, 1.0f, 1, nullptr), "x");
  std::vector<DeviceBuffer<__nv_bfloat16>> bf16(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    Check(bf16[i].Allocate(shapes[i].out * shapes[i].in), "alloc w");
    Check(LaunchRandomFillBf16(bf16[i].data(), bf16[i].size(), -0.02f, 0.02f, 2 + i, nullptr), "w");
  }
  std::vector<double> bf16_seconds(batches.size(), 0);
  std::mt19937 rng(3);
  std::printf("%-6s %6s %10s %12s %8s %12s %8s\n", "quant", "batch", "ms", "tok/s", "x bf16",
              "weight GB/s", "% ceil");
  for (const std::string& q : quantizations) {
    std::vector<CudaPackedLinear> packed;
    int64_t bytes = 0;
    if (q == "none") {
      for (const Shape& s : shapes) bytes += s.out * s.in * 2;
    } else {
      std::optional<PackedKind> kind = KindNamed(q);
      if (!kind) {
        std::fprintf(stderr, "--quantization: unknown \"%s\" (none, int8, int4, fp8, nf4)\n",
                     q.c_str());
        return 2;
      }
      for (const Shape& s : shapes) {
        absl::StatusOr<CudaPackedLinear> d =
            CudaPackedLinear::Upload(RandomPackedLinear(*kind, s.out, s.in, 0.02f, rng()), nullptr);
        Check(d.status(), "upload");
        bytes += d->bytes();
        packed.push_back(*std::move(d));
      }
    }
    for (size_t b = 0; b < batches.size(); ++b) {
      const int64_t rows = batches[b];
      const double sec = Time(
          [&] {
            for (size_t i = 0; i < shapes.size(); ++i) {
              if (q == "none") {
                Check(Gemm(*cublas, x.data(), rows, bf16[i].data(), shapes[i].out, shapes[i].in,
                           y.data(), GemmOutput::kBf16),
                      "gemm");
              } else {
                Check(QuantGemm(*cublas, x.data(), rows, packed[i].view(), y.data(), 0.0f,
                                workspace.data(), workspace.size()),
                      "quant gemm");
              }
            }
          },
          rows >= 4096 ? 5 : 50);
      if (q == "none") bf16_seconds[b] = sec;
      const double gbps = bytes / sec / 1e9;
      std::printf("%-6s %6ld %10.4f %12.0f %8.2f %12.0f %8.1f\n", q.c_str(),
                  static_cast<long>(rows), sec * 1e3, rows / sec,
                  bf16_seconds[b] > 0 ? bf16_seconds[b] / sec : 0.0, gbps,
                  100.0 * bytes / sec / ceiling);
    }
  }
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) { return tessera::Main(argc, argv); }
