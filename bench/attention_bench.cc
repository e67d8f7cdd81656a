// Decode-attention microbenchmark: one query token per sequence against a paged KV cache of
// --contexts positions, Llama-3-8B's attention shape by default (32 query heads, 8 KV heads,
// head_dim 128). Prints the median time and the achieved read bandwidth (K, V and q read, out
// written) against the device-to-device copy ceiling. Kernel parity is tested in
// tests/engine/cuda/paged_attention_test; run it first.
//
//   attention_bench [--contexts 1024,4096,16384] [--batches 1,64] [--head-dim 128]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/paged_attention.cuh"
#include "engine/cuda/random_fill.cuh"

namespace tessera {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Check(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
  std::exit(1);
}

void Check(cudaError_t e, const char* what) { Check(CudaStatus(e, what), what); }

double CopyCeiling() {
  const size_t bytes = size_t{1} << 30;
  DeviceBuffer<char> a, b;
  Check(a.Allocate(bytes), "alloc");
  Check(b.Allocate(bytes), "alloc");
  Check(cudaMemset(a.data(), 1, bytes), "memset");
  cudaEvent_t e0, e1;
  Check(cudaEventCreate(&e0), "event");
  Check(cudaEventCreate(&e1), "event");
  std::vector<double> t;
  for (int i = 0; i < 11; ++i) {
    Check(cudaEventRecord(e0), "record");
    Check(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice), "copy");
    Check(cudaEventRecord(e1), "record");
    Check(cudaEventSynchronize(e1), "sync");
    float ms = 0;
    Check(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
    if (i > 0) t.push_back(ms / 1e3);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 2.0 * bytes / Median(t);
}

void Run(int32_t batch, int32_t context, int32_t heads, int32_t kv_heads, int32_t head_dim,
         int32_t block_size, double ceiling) {
  const int32_t per_seq = (context + block_size - 1) / block_size;
  const int32_t num_blocks = per_seq * batch;
  const int64_t block_elems = int64_t{2} * block_size * kv_heads * head_dim;
  DeviceBuffer<__nv_bfloat16> kv, q, out;
  Check(kv.Allocate(num_blocks * block_elems), "kv alloc");
  Check(q.Allocate(int64_t{batch} * heads * head_dim), "q alloc");
  Check(out.Allocate(int64_t{batch} * heads * head_dim), "out alloc");
  Check(LaunchRandomFillBf16(kv.data(), kv.size(), -1, 1, 11, nullptr), "fill");
  Check(LaunchRandomFillBf16(q.data(), q.size(), -1, 1, 12, nullptr), "fill");
  // Blocks shuffled so sequences do not read contiguous memory.
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(3));
  std::vector<int32_t> host;  // qo_indptr, kv_indptr, last_len, num_cached, indices
  for (int32_t i = 0; i <= batch; ++i) host.push_back(i);
  for (int32_t i = 0; i <= batch; ++i) host.push_back(i * per_seq);
  for (int32_t i = 0; i < batch; ++i) host.push_back(context - (per_seq - 1) * block_size);
  for (int32_t i = 0; i < batch; ++i) host.push_back(context - 1);
  host.insert(host.end(), ids.begin(), ids.end());
  DeviceBuffer<int32_t> ints;
  Check(ints.Allocate(static_cast<int64_t>(host.size())), "ints alloc");
  Check(ints.CopyFromHost(host.data(), static_cast<int64_t>(host.size())), "ints copy");
  PagedAttentionArgs a;
  a.q = q.data();
  a.kv = kv.data();
  a.out = out.data();
  a.qo_indptr = ints.data();
  a.kv_indptr = ints.data() + batch + 1;
  a.kv_last_block_len = ints.data() + 2 * (batch + 1);
  a.num_cached = ints.data() + 2 * (batch + 1) + batch;
  a.kv_indices = ints.data() + 2 * (batch + 1) + 2 * batch;
  a.num_seqs = batch;
  a.num_tokens = batch;
  a.num_heads = heads;
  a.num_kv_heads = kv_heads;
  a.head_dim = head_dim;
  a.block_size = block_size;
  a.max_q_len = 1;
  a.max_kv_len = context;
  const int64_t ws_bytes = PagedAttentionWorkspaceBytes(batch, batch, heads, head_dim);
  DeviceBuffer<char> ws;
  Check(ws.Allocate(std::max<int64_t>(ws_bytes, 1)), "workspace alloc");
  cudaEvent_t e0, e1;
  Check(cudaEventCreate(&e0), "event");
  Check(cudaEventCreate(&e1), "event");
  std::vector<double> t;
  for (int i = 0; i < 60; ++i) {
    Check(cudaEventRecord(e0), "record");
    Check(LaunchPagedAttention(a, ws.data(), ws_bytes, nullptr), "attention");
    Check(cudaEventRecord(e1), "record");
    Check(cudaEventSynchronize(e1), "sync");
    float ms = 0;
    Check(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
    if (i >= 10) t.push_back(ms / 1e3);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  const double med = Median(t);
  const double bytes = static_cast<double>(batch) * context * kv_heads * head_dim * 2 * 2 +
                       2.0 * batch * heads * head_dim * 2;
  std::printf("decode attention batch %3d context %6d: %8.1f us  %7.1f GB/s  (%4.1f%% of copy)\n",
              batch, context, med * 1e6, bytes / med / 1e9, 100.0 * bytes / med / ceiling);
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  using namespace tessera;
  CLI::App app("tessera decode-attention benchmark");
  std::vector<int32_t> contexts{1024, 4096, 16384}, batches{1, 64};
  int32_t heads = 32, kv_heads = 8, head_dim = 128, block_size = 16;
  app.add_option("--contexts", contexts)->delimiter(',')->capture_default_str();
  app.add_option("--batches", batches)->delimiter(',')->capture_default_str();
  app.add_option("--heads", heads)->capture_default_str();
  app.add_option("--kv-heads", kv_heads)->capture_default_str();
  app.add_option("--head-dim", head_dim)->capture_default_str();
  app.add_option("--block-size", block_size)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const double ceiling = CopyCeiling();
  std::printf("device-to-device copy ceiling: %.0f GB/s (read + write)\n", ceiling / 1e9);
  for (int32_t b : batches)
    for (int32_t c : contexts) Run(b, c, heads, kv_heads, head_dim, block_size, ceiling);
  return 0;
}
