// BGMV LoRA kernels: each token row gathers its own adapter through row_slot.
//
// Shrink: grid (row, rank group, projection), one warp per rank index r. The warp reads x[t] and
// A row r with 16-byte loads (8 bf16 per lane and step) when in_features, x and the row pointer
// allow it, else scalar loads, and reduces with shuffles; lane 0 writes h[t, p, r].
// Expand: grid (row, column tile, projection), kThreads threads owning 8 output columns each.
// The block stages h[t, p, :rank] and the B^T row pointers in shared memory, then every thread
// walks r < rank reading B^T[r][o .. o + 8) (one 16-byte load, coalesced across the block) and
// adds scale * acc to y, rounded to bf16 once. Unaligned shapes use the same tile with strided
// scalar columns.
//
// Every early exit depends only on the block's (row, projection, tile) and device data shared by
// the whole block, so it is block-uniform and never splits a __syncthreads or a warp shuffle.
#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/lora_args_check.h"
#include "engine/cuda/lora_bgmv.cuh"
#include "engine/cuda/lora_kernel_util.cuh"

namespace tessera {
namespace {

using lora_detail::AddScaledBf16;
using lora_detail::AddScaledBf16x8;
using lora_detail::IsAligned16;
using lora_detail::kVecWidth;
using lora_detail::LoadBf16ReadOnly;
using lora_detail::LoadBf16x8ReadOnly;
using lora_detail::LoadModuleDesc;
using lora_detail::ProjectionAt;

constexpr int kWarp = 32;
constexpr int kShrinkWarps = 4;  // rank indices per shrink block
constexpr int kShrinkThreads = kShrinkWarps * kWarp;
constexpr int kExpandThreads = 64;
constexpr int kExpandColumns = kExpandThreads * kVecWidth;  // output columns per expand block
constexpr int64_t kMaxGridYZ = 65535;

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

// This lane's share of dot(x, a) over n elements, 8 elements per 16-byte load. Two accumulators
// halve the dependent FMA chain.
__device__ __forceinline__ float DotVecPartial(const __nv_bfloat16* x, const __nv_bfloat16* a,
                                               int64_t n, int lane) {
  float even = 0.0f, odd = 0.0f;
#pragma unroll 2
  for (int64_t i = int64_t{lane} * kVecWidth; i < n; i += kWarp * kVecWidth) {
    float xv[kVecWidth], av[kVecWidth];
    LoadBf16x8ReadOnly(x + i, xv);
    LoadBf16x8ReadOnly(a + i, av);
#pragma unroll
    for (int e = 0; e < kVecWidth; e += 2) {
      even = fmaf(xv[e], av[e], even);
      odd = fmaf(xv[e + 1], av[e + 1], odd);
    }
  }
  return even + odd;
}

__device__ __forceinline__ float DotScalarPartial(const __nv_bfloat16* x, const __nv_bfloat16* a,
                                                  int64_t n, int lane) {
  float acc = 0.0f;
  for (int64_t i = lane; i < n; i += kWarp) {
    acc = fmaf(LoadBf16ReadOnly(x + i), LoadBf16ReadOnly(a + i), acc);
  }
  return acc;
}

// x_vec: in_features, x_stride and x allow 16-byte loads of every x row.
__global__ void __launch_bounds__(kShrinkThreads)
    BgmvShrinkKernel(const LoraGroupArgs args, bool x_vec) {
  const int32_t t = blockIdx.x;
  const int p = blockIdx.z;
  const int32_t slot = args.row_slot[t];
  if (slot < 0) return;
  const LoraModuleDesc desc = LoadModuleDesc(args, slot, p);
  const int lane = threadIdx.x % kWarp;
  const __nv_bfloat16* x = args.x + int64_t{t} * args.x_stride;
  float* h = args.shrink + (int64_t{t} * kMaxLoraGroup + p) * args.max_rank;
  // r is uniform across the warp, so the shuffles below see all 32 lanes.
  for (int32_t r = blockIdx.y * kShrinkWarps + threadIdx.x / kWarp; r < desc.rank;
       r += gridDim.y * kShrinkWarps) {
    const __nv_bfloat16* a = desc.a_rows[r];
    const float part = x_vec && IsAligned16(a) ? DotVecPartial(x, a, args.in_features, lane)
                                               : DotScalarPartial(x, a, args.in_features, lane);
    const float sum = WarpSum(part);
    if (lane == 0) h[r] = sum;
  }
}

// y_vec_mask bit p: projection p's columns allow 16-byte accesses of y (out_features, out_offset
// and y_stride multiples of 8, y aligned). Dynamic shared memory: max_rank B^T row pointers, then
// max_rank floats of h.
__global__ void __launch_bounds__(kExpandThreads)
    BgmvExpandKernel(const LoraGroupArgs args, uint32_t y_vec_mask) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int32_t t = blockIdx.x;
  const int p = blockIdx.z;
  const LoraProjection proj = ProjectionAt(args, p);
  const int64_t c0 = int64_t{blockIdx.y} * kExpandColumns;
  if (c0 >= proj.out_features) return;
  const int32_t slot = args.row_slot[t];
  if (slot < 0) return;
  const LoraModuleDesc desc = LoadModuleDesc(args, slot, p);
  if (desc.rank <= 0) return;

  auto** b_rows = reinterpret_cast<const __nv_bfloat16**>(smem);
  float* h = reinterpret_cast<float*>(smem + sizeof(const __nv_bfloat16*) * args.max_rank);
  const float* h_src = args.shrink + (int64_t{t} * kMaxLoraGroup + p) * args.max_rank;
  bool aligned = true;
  for (int r = threadIdx.x; r < desc.rank; r += kExpandThreads) {
    const __nv_bfloat16* b = desc.b_rows[r];
    b_rows[r] = b;
    h[r] = h_src[r];
    aligned = aligned && IsAligned16(b);
  }
  // Also the barrier that publishes the staged rows: the vector path needs every B^T row aligned.
  const bool vec = __syncthreads_and(aligned) && ((y_vec_mask >> p) & 1u) != 0;

  __nv_bfloat16* y = args.y + int64_t{t} * args.y_stride + proj.out_offset;
  float acc[kVecWidth] = {};
  if (vec) {
    // out_features % 8 == 0 here, so a thread's 8 columns are all in range or all out.
    const int64_t o = c0 + int64_t{threadIdx.x} * kVecWidth;
    if (o >= proj.out_features) return;
#pragma unroll 4
    for (int r = 0; r < desc.rank; ++r) {
      float b[kVecWidth];
      LoadBf16x8ReadOnly(b_rows[r] + o, b);
      const float hr = h[r];
#pragma unroll
      for (int e = 0; e < kVecWidth; ++e) acc[e] = fmaf(hr, b[e], acc[e]);
    }
    AddScaledBf16x8(y + o, desc.scale, acc);
  } else {
    // Same tile, column c0 + threadIdx.x + e * kExpandThreads: scalar but still coalesced.
    for (int r = 0; r < desc.rank; ++r) {
      const __nv_bfloat16* b = b_rows[r];
      const float hr = h[r];
#pragma unroll
      for (int e = 0; e < kVecWidth; ++e) {
        const int64_t o = c0 + threadIdx.x + int64_t{e} * kExpandThreads;
        if (o < proj.out_features) acc[e] = fmaf(hr, LoadBf16ReadOnly(b + o), acc[e]);
      }
    }
#pragma unroll
    for (int e = 0; e < kVecWidth; ++e) {
      const int64_t o = c0 + threadIdx.x + int64_t{e} * kExpandThreads;
      if (o < proj.out_features) AddScaledBf16(y + o, desc.scale, acc[e]);
    }
  }
}

}  // namespace

absl::Status LaunchLoraBgmv(const LoraGroupArgs& args, cudaStream_t stream) {
  if (absl::Status s = ValidateLoraGroupArgs(args, "LaunchLoraBgmv"); !s.ok()) return s;
  if (args.num_rows == 0) return absl::OkStatus();
  if (args.row_slot == nullptr) {
    return absl::InvalidArgumentError("LaunchLoraBgmv: row_slot must be non-null");
  }
  const bool x_vec = args.in_features % kVecWidth == 0 && args.x_stride % kVecWidth == 0 &&
                     cuda_detail::Aligned16(args.x);
  uint32_t y_vec_mask = 0;
  int32_t max_out = 0;
  for (int p = 0; p < args.num_projections; ++p) {
    const LoraProjection& proj = args.proj[p];
    max_out = std::max(max_out, proj.out_features);
    if (proj.out_features % kVecWidth == 0 && proj.out_offset % kVecWidth == 0 &&
        args.y_stride % kVecWidth == 0 && cuda_detail::Aligned16(args.y)) {
      y_vec_mask |= 1u << p;
    }
  }
  const int64_t column_tiles = (int64_t{max_out} + kExpandColumns - 1) / kExpandColumns;
  if (column_tiles > kMaxGridYZ) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchLoraBgmv: out_features ", max_out, " exceeds the grid's column tiles"));
  }
  // Both grids depend on num_rows and the shapes only, never on the slots: a captured CUDA graph
  // stays valid when row_slot or the table change.
  const dim3 shrink_grid(args.num_rows, (args.max_rank + kShrinkWarps - 1) / kShrinkWarps,
                         args.num_projections);
  BgmvShrinkKernel<<<shrink_grid, kShrinkThreads, 0, stream>>>(args, x_vec);
  if (absl::Status s = CudaStatus(cudaGetLastError(), "BgmvShrinkKernel launch"); !s.ok()) {
    return s;
  }

  const dim3 expand_grid(args.num_rows, static_cast<unsigned>(column_tiles), args.num_projections);
  const size_t smem =
      static_cast<size_t>(args.max_rank) * (sizeof(const __nv_bfloat16*) + sizeof(float));
  BgmvExpandKernel<<<expand_grid, kExpandThreads, smem, stream>>>(args, y_vec_mask);
  return CudaStatus(cudaGetLastError(), "BgmvExpandKernel launch");
}

}  // namespace tessera
