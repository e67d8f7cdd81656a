// Bias + RoPE + paged-KV write: one CTA per token (grid-stride over tokens). The token's cos/sin
// table (head_dim / 2 entries) is computed once into shared memory with accurate sincosf of the
// fp32 angle float(position) * inv_freq[i], as the CPU reference does. The CTA's threads then
// stride over work items of kWidth elements:
//   - rotation items, for the q heads then the k heads: elements [j, j + kWidth) of the first half
//     of a head and the matching elements of its second half, rotated together;
//   - copy items for the v heads: kWidth elements plus bias.
// kWidth 8 uses 16-byte accesses (needs head_dim % 16 == 0 and aligned pointers); 1 is the
// scalar fallback. Tokens with a negative slot (padding) still get q but write no KV.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/rope_kv_write.cuh"
#include "engine/cuda/vec_io.cuh"

namespace tessera {
namespace {

using cuda_detail::kVecWidth;

constexpr int kMaxThreads = 256;
constexpr int kMaxGrid = 65535;
constexpr int kMaxHeadDim = 256;

template <int kWidth>
__device__ __forceinline__ void AddBias(const __nv_bfloat16* __restrict__ bias, int32_t col,
                                        float (&v)[kWidth]) {
  if (bias == nullptr) return;
  float b[kWidth];
  cuda_detail::LoadBf16<kWidth>(bias + col, b);
#pragma unroll
  for (int e = 0; e < kWidth; ++e) v[e] += b[e];
}

template <int kWidth>
__global__ void __launch_bounds__(kMaxThreads) RopeKvWriteKernel(const RopeKvWriteArgs args) {
  __shared__ __align__(16) float cos_table[kMaxHeadDim / 2];
  __shared__ __align__(16) float sin_table[kMaxHeadDim / 2];

  const int32_t head_dim = args.head_dim;
  const int32_t half = head_dim / 2;
  const int32_t items_per_half = half / kWidth;
  const int32_t items_per_head = head_dim / kWidth;
  const int32_t num_rot_items = (args.num_heads + args.num_kv_heads) * items_per_half;
  const int32_t num_items = num_rot_items + args.num_kv_heads * items_per_head;
  const int64_t qkv_width = static_cast<int64_t>(args.num_heads + 2 * args.num_kv_heads) * head_dim;
  const int64_t q_width = static_cast<int64_t>(args.num_heads) * head_dim;
  const int64_t kv_row = static_cast<int64_t>(args.num_kv_heads) * head_dim;  // one slot

  for (int64_t t = blockIdx.x; t < args.num_tokens; t += gridDim.x) {
    const float position = static_cast<float>(args.positions[t]);
    for (int32_t i = threadIdx.x; i < half; i += blockDim.x) {
      // __fmul_rn: a plain IEEE fp32 product, never contracted, exactly as the CPU computes it.
      float s, c;
      sincosf(__fmul_rn(position, args.inv_freq[i]), &s, &c);
      cos_table[i] = c;
      sin_table[i] = s;
    }
    __syncthreads();

    const __nv_bfloat16* src = args.qkv + t * qkv_width;
    __nv_bfloat16* q_dst = args.q_out + t * q_width;
    const int32_t slot = args.slots[t];
    __nv_bfloat16* k_dst = nullptr;  // this token's K row in the cache: [num_kv_heads][head_dim]
    __nv_bfloat16* v_dst = nullptr;
    if (slot >= 0) {
      const int64_t block = slot / args.block_size;
      const int64_t in_block = slot % args.block_size;
      k_dst = args.kv_cache + ((block * 2) * args.block_size + in_block) * kv_row;
      v_dst = k_dst + args.block_size * kv_row;
    }

    for (int32_t item = threadIdx.x; item < num_items; item += blockDim.x) {
      if (item < num_rot_items) {
        // head < num_heads: a q head; otherwise k head (head - num_heads). q and k heads are
        // contiguous in the qkv row, so the column is head * head_dim either way.
        const int32_t head = item / items_per_half;
        const int32_t j = (item - head * items_per_half) * kWidth;
        const int32_t col = head * head_dim + j;
        float lo[kWidth], hi[kWidth], c[kWidth], s[kWidth];
        cuda_detail::LoadBf16<kWidth>(src + col, lo);
        cuda_detail::LoadBf16<kWidth>(src + col + half, hi);
        AddBias<kWidth>(args.bias, col, lo);
        AddBias<kWidth>(args.bias, col + half, hi);
        cuda_detail::LoadF32<kWidth>(cos_table + j, c);
        cuda_detail::LoadF32<kWidth>(sin_table + j, s);
        float out_lo[kWidth], out_hi[kWidth];
#pragma unroll
        for (int e = 0; e < kWidth; ++e) {
          out_lo[e] = lo[e] * c[e] - hi[e] * s[e];
          out_hi[e] = hi[e] * c[e] + lo[e] * s[e];
        }
        __nv_bfloat16* dst;
        if (head < args.num_heads) {
          dst = q_dst + col;
        } else {
          if (k_dst == nullptr) continue;
          dst = k_dst + static_cast<int64_t>(head - args.num_heads) * head_dim + j;
        }
        cuda_detail::StoreBf16<kWidth>(dst, out_lo);
        cuda_detail::StoreBf16<kWidth>(dst + half, out_hi);
      } else {
        if (v_dst == nullptr) continue;
        const int32_t v_item = item - num_rot_items;
        const int32_t head = v_item / items_per_head;
        const int32_t j = (v_item - head * items_per_head) * kWidth;
        const int32_t col = (args.num_heads + args.num_kv_heads + head) * head_dim + j;
        float v[kWidth];
        cuda_detail::LoadBf16<kWidth>(src + col, v);
        AddBias<kWidth>(args.bias, col, v);
        cuda_detail::StoreBf16<kWidth>(v_dst + static_cast<int64_t>(head) * head_dim + j, v);
      }
    }
    __syncthreads();  // the next token overwrites the cos/sin tables
  }
}

absl::Status Invalid(const char* what, int64_t value, const char* rule) {
  return absl::InvalidArgumentError(
      absl::StrCat("LaunchRopeKvWrite: ", what, " must be ", rule, ", got ", value));
}

}  // namespace

absl::Status LaunchRopeKvWrite(const RopeKvWriteArgs& args, cudaStream_t stream) {
  if (args.num_tokens < 0) return Invalid("num_tokens", args.num_tokens, ">= 0");
  if (args.num_heads <= 0) return Invalid("num_heads", args.num_heads, "> 0");
  if (args.num_kv_heads <= 0) return Invalid("num_kv_heads", args.num_kv_heads, "> 0");
  if (args.head_dim <= 0 || args.head_dim % 2 != 0 || args.head_dim > kMaxHeadDim) {
    return Invalid("head_dim", args.head_dim, "even, > 0 and <= 256");
  }
  if (args.block_size <= 0) return Invalid("block_size", args.block_size, "> 0");
  // The qkv row width in elements must fit the kernel's int32 column arithmetic.
  const int64_t qkv_width =
      (static_cast<int64_t>(args.num_heads) + 2 * static_cast<int64_t>(args.num_kv_heads)) *
      args.head_dim;
  if (qkv_width > INT32_MAX)
    return Invalid("(num_heads + 2 * num_kv_heads) * head_dim", qkv_width, "< 2^31");
  if (args.num_tokens == 0) return absl::OkStatus();
  if (args.qkv == nullptr || args.positions == nullptr || args.slots == nullptr ||
      args.inv_freq == nullptr || args.q_out == nullptr || args.kv_cache == nullptr) {
    return absl::InvalidArgumentError(
        "LaunchRopeKvWrite: qkv, positions, slots, inv_freq, q_out and kv_cache must be non-null");
  }
  // head_dim % 16 == 0 keeps every head, half-head and cache slot on a 16-byte boundary.
  const bool vec = args.head_dim % (2 * kVecWidth) == 0 && cuda_detail::Aligned16(args.qkv) &&
                   cuda_detail::Aligned16(args.bias) && cuda_detail::Aligned16(args.q_out) &&
                   cuda_detail::Aligned16(args.kv_cache);
  const int width = vec ? kVecWidth : 1;
  const int64_t num_items =
      (static_cast<int64_t>(args.num_heads) + args.num_kv_heads) * (args.head_dim / 2 / width) +
      static_cast<int64_t>(args.num_kv_heads) * (args.head_dim / width);
  const int threads = cuda_detail::RoundUpToWarp(std::min<int64_t>(num_items, kMaxThreads));
  const int grid = std::min(args.num_tokens, kMaxGrid);
  if (vec) {
    RopeKvWriteKernel<kVecWidth><<<grid, threads, 0, stream>>>(args);
  } else {
    RopeKvWriteKernel<1><<<grid, threads, 0, stream>>>(args);
  }
  return CudaStatus(cudaGetLastError(), "RopeKvWriteKernel launch");
}

}  // namespace tessera
