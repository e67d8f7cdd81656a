// SGMV LoRA kernels: segments of consecutive rows sharing one adapter, computed as tiled matrix
// products so that a tile of A or B^T is read once per kTileRows rows.
//
// Shrink: grid (segment x row tile, rank tile, projection), 256 threads, one (row, rank) output
// each over a 16-row x 16-rank tile. The K dimension goes in chunks of 64: half the block loads
// the x tile, half the A tile (one 16-byte load per thread when in_features, x and the row
// pointer allow it, else scalar), converted to fp32 in padded shared memory (row stride 65
// floats: the 16 rank rows a warp reads fall in distinct banks), then 64 FMAs per thread.
// Expand: grid (segment x row tile, column tile, projection), 4 warps x 4 rows each, lanes owning
// 8 consecutive columns (256 per block). The block stages the h tile [16 rows][rank] and the B^T
// row pointers in shared memory; each 16-byte load of B^T[r][o .. o + 8) serves 4 rows, and a
// warp's loads of one B^T row are 512 contiguous bytes. Unaligned shapes use the same tile with
// strided scalar columns.
//
// Blocks whose row tile starts past their segment's end, or whose rank / column tile lies past
// the entry's rank / the projection's width, exit at once; these exits are block-uniform.
#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/lora_args_check.h"
#include "engine/cuda/lora_kernel_util.cuh"
#include "engine/cuda/lora_sgmv.cuh"

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
constexpr int kTileRows = 16;
constexpr int kTileRanks = 16;
constexpr int kChunk = 64;  // K elements per shared-memory stage of the shrink
constexpr int kShrinkThreads = kTileRows * kTileRanks;
constexpr int kLoadsPerRow = kChunk / kVecWidth;
// Half the shrink block loads the x tile, the other half the A tile, one vector each.
static_assert(kTileRows * kLoadsPerRow == kShrinkThreads / 2);
static_assert(kTileRanks * kLoadsPerRow == kShrinkThreads / 2);
constexpr int kExpandWarps = 4;
constexpr int kRowsPerWarp = kTileRows / kExpandWarps;
constexpr int kExpandThreads = kExpandWarps * kWarp;
constexpr int kExpandColumns = kWarp * kVecWidth;  // output columns per expand block
constexpr int64_t kMaxGridX = 2147483647;
constexpr int64_t kMaxGridYZ = 65535;

struct SegmentRows {
  int32_t begin;
  int32_t end;
};

// Segment s's rows, clamped to the batch so a malformed segment cannot reach outside y, x or the
// scratch.
__device__ __forceinline__ SegmentRows LoadSegmentRows(const LoraSegments& segments, int32_t s,
                                                       int32_t num_rows) {
  return {max(segments.starts[s], 0), min(segments.starts[s + 1], num_rows)};
}

// x_vec: in_features, x_stride and x allow 16-byte loads of every x row.
__global__ void __launch_bounds__(kShrinkThreads)
    SgmvShrinkKernel(const LoraGroupArgs args, const LoraSegments segments, int32_t row_tiles,
                     bool x_vec) {
  __shared__ float xs[kTileRows][kChunk + 1];
  __shared__ float as[kTileRanks][kChunk + 1];
  const int32_t s = blockIdx.x / row_tiles;
  const int32_t tile = blockIdx.x - s * row_tiles;
  const int p = blockIdx.z;
  const int32_t r0 = blockIdx.y * kTileRanks;
  const SegmentRows seg = LoadSegmentRows(segments, s, args.num_rows);
  const int32_t row0 = seg.begin + tile * kTileRows;
  if (row0 >= seg.end) return;
  const int32_t slot = segments.slots[s];
  if (slot < 0) return;
  const LoraModuleDesc desc = LoadModuleDesc(args, slot, p);
  if (r0 >= desc.rank) return;

  // This thread's share of each stage: 8 elements of one x row or of one A row (null past the
  // segment's rows or the entry's rank: zeros).
  const bool loads_x = threadIdx.x < kShrinkThreads / 2;
  const int li = threadIdx.x % (kShrinkThreads / 2);
  const int lrow = li / kLoadsPerRow;
  const int lcol = (li % kLoadsPerRow) * kVecWidth;
  const __nv_bfloat16* src = nullptr;
  bool src_vec = false;
  if (loads_x) {
    if (row0 + lrow < seg.end) {
      src = args.x + int64_t{row0 + lrow} * args.x_stride;
      src_vec = x_vec;
    }
  } else if (r0 + lrow < desc.rank) {
    src = desc.a_rows[r0 + lrow];
    src_vec = args.in_features % kVecWidth == 0 && IsAligned16(src);
  }
  float* dst = loads_x ? &xs[lrow][lcol] : &as[lrow][lcol];

  const int ty = threadIdx.x / kTileRanks;
  const int tx = threadIdx.x % kTileRanks;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < args.in_features; k0 += kChunk) {
    const int64_t k = k0 + lcol;
    float v[kVecWidth];
    // On the vector path in_features % 8 == 0, so k < in_features means all 8 are in range.
    if (src != nullptr && src_vec && k < args.in_features) {
      LoadBf16x8ReadOnly(src + k, v);
    } else {
#pragma unroll
      for (int e = 0; e < kVecWidth; ++e) {
        v[e] = src != nullptr && k + e < args.in_features ? LoadBf16ReadOnly(src + k + e) : 0.0f;
      }
    }
#pragma unroll
    for (int e = 0; e < kVecWidth; ++e) dst[e] = v[e];
    __syncthreads();
#pragma unroll 16
    for (int kk = 0; kk < kChunk; ++kk) acc = fmaf(xs[ty][kk], as[tx][kk], acc);
    __syncthreads();
  }
  const int32_t t = row0 + ty;
  const int32_t r = r0 + tx;
  if (t < seg.end && r < desc.rank) {
    args.shrink[(int64_t{t} * kMaxLoraGroup + p) * args.max_rank + r] = acc;
  }
}

// y_vec_mask bit p: projection p's columns allow 16-byte accesses of y. Dynamic shared memory:
// max_rank B^T row pointers, then the h tile [kTileRows][rank] floats.
__global__ void __launch_bounds__(kExpandThreads)
    SgmvExpandKernel(const LoraGroupArgs args, const LoraSegments segments, int32_t row_tiles,
                     uint32_t y_vec_mask) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int32_t s = blockIdx.x / row_tiles;
  const int32_t tile = blockIdx.x - s * row_tiles;
  const int p = blockIdx.z;
  const LoraProjection proj = ProjectionAt(args, p);
  const int64_t c0 = int64_t{blockIdx.y} * kExpandColumns;
  if (c0 >= proj.out_features) return;
  const SegmentRows seg = LoadSegmentRows(segments, s, args.num_rows);
  const int32_t row0 = seg.begin + tile * kTileRows;
  if (row0 >= seg.end) return;
  const int32_t slot = segments.slots[s];
  if (slot < 0) return;
  const LoraModuleDesc desc = LoadModuleDesc(args, slot, p);
  const int32_t rank = desc.rank;
  if (rank <= 0) return;

  auto** b_rows = reinterpret_cast<const __nv_bfloat16**>(smem);
  float* h = reinterpret_cast<float*>(smem + sizeof(const __nv_bfloat16*) * args.max_rank);
  bool aligned = true;
  for (int r = threadIdx.x; r < rank; r += kExpandThreads) {
    const __nv_bfloat16* b = desc.b_rows[r];
    b_rows[r] = b;
    aligned = aligned && IsAligned16(b);
  }
  for (int i = threadIdx.x; i < kTileRows * rank; i += kExpandThreads) {
    const int row = i / rank;
    const int r = i - row * rank;
    const int32_t t = row0 + row;
    h[i] = t < seg.end ? args.shrink[(int64_t{t} * kMaxLoraGroup + p) * args.max_rank + r] : 0.0f;
  }
  // Also the barrier that publishes the staged tile: the vector path needs every B^T row aligned.
  const bool vec = __syncthreads_and(aligned) && ((y_vec_mask >> p) & 1u) != 0;

  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int first = warp * kRowsPerWarp;  // this warp's first row in the tile
  if (row0 + first >= seg.end) return;
  const float* hw = h + first * rank;
  float acc[kRowsPerWarp][kVecWidth] = {};
  if (vec) {
    // out_features % 8 == 0 here, so a lane's 8 columns are all in range or all out.
    const int64_t o = c0 + int64_t{lane} * kVecWidth;
    if (o >= proj.out_features) return;
#pragma unroll 2
    for (int r = 0; r < rank; ++r) {
      float b[kVecWidth];
      LoadBf16x8ReadOnly(b_rows[r] + o, b);
#pragma unroll
      for (int j = 0; j < kRowsPerWarp; ++j) {
        const float hr = hw[j * rank + r];
#pragma unroll
        for (int e = 0; e < kVecWidth; ++e) acc[j][e] = fmaf(hr, b[e], acc[j][e]);
      }
    }
#pragma unroll
    for (int j = 0; j < kRowsPerWarp; ++j) {
      const int32_t t = row0 + first + j;
      if (t < seg.end) {
        AddScaledBf16x8(args.y + int64_t{t} * args.y_stride + proj.out_offset + o, desc.scale,
                        acc[j]);
      }
    }
  } else {
    // Same tile, column c0 + lane + e * kWarp: scalar but still coalesced.
    for (int r = 0; r < rank; ++r) {
      const __nv_bfloat16* b_row = b_rows[r];
      float b[kVecWidth];
#pragma unroll
      for (int e = 0; e < kVecWidth; ++e) {
        const int64_t o = c0 + lane + int64_t{e} * kWarp;
        b[e] = o < proj.out_features ? LoadBf16ReadOnly(b_row + o) : 0.0f;
      }
#pragma unroll
      for (int j = 0; j < kRowsPerWarp; ++j) {
        const float hr = hw[j * rank + r];
#pragma unroll
        for (int e = 0; e < kVecWidth; ++e) acc[j][e] = fmaf(hr, b[e], acc[j][e]);
      }
    }
#pragma unroll
    for (int j = 0; j < kRowsPerWarp; ++j) {
      const int32_t t = row0 + first + j;
      if (t >= seg.end) break;
      __nv_bfloat16* y = args.y + int64_t{t} * args.y_stride + proj.out_offset;
#pragma unroll
      for (int e = 0; e < kVecWidth; ++e) {
        const int64_t o = c0 + lane + int64_t{e} * kWarp;
        if (o < proj.out_features) AddScaledBf16(y + o, desc.scale, acc[j][e]);
      }
    }
  }
}

}  // namespace

absl::Status LaunchLoraSgmv(const LoraGroupArgs& args, const LoraSegments& segments,
                            cudaStream_t stream) {
  if (absl::Status s = ValidateLoraGroupArgs(args, "LaunchLoraSgmv"); !s.ok()) return s;
  if (segments.num_segments < 0 || segments.max_segment_rows < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchLoraSgmv: num_segments (", segments.num_segments,
                     ") and max_segment_rows (", segments.max_segment_rows, ") must be >= 0"));
  }
  if (args.num_rows == 0 || segments.num_segments == 0 || segments.max_segment_rows == 0) {
    return absl::OkStatus();
  }
  if (segments.starts == nullptr || segments.slots == nullptr) {
    return absl::InvalidArgumentError("LaunchLoraSgmv: segment starts and slots must be non-null");
  }
  const int32_t row_tiles = (segments.max_segment_rows + kTileRows - 1) / kTileRows;
  const int64_t blocks_x = int64_t{segments.num_segments} * row_tiles;
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
  if (blocks_x > kMaxGridX || column_tiles > kMaxGridYZ) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LaunchLoraSgmv: ", segments.num_segments, " segments of up to ", segments.max_segment_rows,
        " rows with out_features ", max_out, " exceed the grid"));
  }

  const dim3 shrink_grid(static_cast<unsigned>(blocks_x),
                         (args.max_rank + kTileRanks - 1) / kTileRanks, args.num_projections);
  SgmvShrinkKernel<<<shrink_grid, kShrinkThreads, 0, stream>>>(args, segments, row_tiles, x_vec);
  if (absl::Status s = CudaStatus(cudaGetLastError(), "SgmvShrinkKernel launch"); !s.ok()) {
    return s;
  }

  const dim3 expand_grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(column_tiles),
                         args.num_projections);
  const size_t smem = static_cast<size_t>(args.max_rank) *
                      (sizeof(const __nv_bfloat16*) + kTileRows * sizeof(float));
  SgmvExpandKernel<<<expand_grid, kExpandThreads, smem, stream>>>(args, segments, row_tiles,
                                                                  y_vec_mask);
  return CudaStatus(cudaGetLastError(), "SgmvExpandKernel launch");
}

}  // namespace tessera
