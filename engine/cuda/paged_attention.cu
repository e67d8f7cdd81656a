// Host side of paged attention: argument validation, the split-KV plan, the workspace and the
// dispatch to the decode (paged_attention_decode.cu, paged_attention_decode_reduce.cu) and prefill
// (paged_attention_prefill.cu) kernels.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/paged_attention.cuh"
#include "engine/cuda/paged_attention_internal.cuh"

namespace tessera {
namespace {

using paged_attention_internal::DecodeHeadsPerCta;
using paged_attention_internal::DecodePartials;
using paged_attention_internal::kMaxSplits;
using paged_attention_internal::kMinSplitLen;
using paged_attention_internal::kSplitSlotBudget;
using paged_attention_internal::Params;

constexpr int64_t kMaxGridYZ = 65535;

// Multiprocessor count of the current device, looked up once per device.
absl::StatusOr<int> SmCount() {
  constexpr int kMaxDevices = 64;
  static std::array<std::atomic<int>, kMaxDevices> cache{};
  int device = 0;
  TESSERA_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  if (device >= 0 && device < kMaxDevices) {
    if (const int n = cache[device].load(std::memory_order_relaxed); n > 0) return n;
  }
  int n = 0;
  TESSERA_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  if (n <= 0) n = 1;
  if (device >= 0 && device < kMaxDevices) cache[device].store(n, std::memory_order_relaxed);
  return n;
}

bool Aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

absl::Status Invalid(auto... pieces) {
  return absl::InvalidArgumentError(absl::StrCat("paged attention: ", pieces...));
}

absl::Status Validate(const PagedAttentionArgs& a) {
  if (a.head_dim != 64 && a.head_dim != 128) {
    return Invalid("head_dim ", a.head_dim, " is not supported (64 or 128)");
  }
  if (a.num_heads <= 0) return Invalid("num_heads ", a.num_heads, " must be positive");
  if (a.num_kv_heads <= 0) return Invalid("num_kv_heads ", a.num_kv_heads, " must be positive");
  if (a.num_heads % a.num_kv_heads != 0) {
    return Invalid("num_heads ", a.num_heads, " is not a multiple of num_kv_heads ",
                   a.num_kv_heads);
  }
  if (a.block_size <= 0) return Invalid("block_size ", a.block_size, " must be positive");
  if (a.sliding_window < 0) {
    return Invalid("sliding_window ", a.sliding_window, " must be >= 0 (0 = full causal)");
  }
  if (a.num_seqs < 0) return Invalid("num_seqs ", a.num_seqs, " is negative");
  if (a.num_tokens < 0) return Invalid("num_tokens ", a.num_tokens, " is negative");
  if (a.num_seqs > kMaxGridYZ) {
    return Invalid("num_seqs ", a.num_seqs, " exceeds the grid limit ", kMaxGridYZ);
  }
  const int32_t group = a.num_heads / a.num_kv_heads;
  const int64_t head_chunks = (group + DecodeHeadsPerCta(group) - 1) / DecodeHeadsPerCta(group);
  if (a.num_kv_heads * head_chunks > kMaxGridYZ) {
    return Invalid("num_kv_heads ", a.num_kv_heads, " exceeds the grid limit");
  }
  if (a.num_seqs == 0 || a.num_tokens == 0) return absl::OkStatus();
  if (a.max_q_len < 1 || a.max_q_len > a.num_tokens) {
    return Invalid("max_q_len ", a.max_q_len, " is outside [1, num_tokens = ", a.num_tokens, "]");
  }
  if (a.max_kv_len < a.max_q_len) {
    return Invalid("max_kv_len ", a.max_kv_len, " is smaller than max_q_len ", a.max_q_len);
  }
  if (a.q == nullptr || a.kv == nullptr || a.out == nullptr || a.qo_indptr == nullptr ||
      a.kv_indptr == nullptr || a.kv_indices == nullptr || a.num_cached == nullptr) {
    return Invalid("a device pointer is null");
  }
  if (!Aligned16(a.q) || !Aligned16(a.kv) || !Aligned16(a.out)) {
    return Invalid("q, kv and out must be 16-byte aligned");
  }
  return absl::OkStatus();
}

// Splits of the decode KV ranges: enough CTAs to fill the GPU a few times over at small batch,
// none for short contexts, bounded by the workspace plan (kMaxSplits, kSplitSlotBudget).
absl::StatusOr<int32_t> NumSplits(const PagedAttentionArgs& a) {
  int64_t len = a.max_kv_len;
  if (a.sliding_window > 0) len = std::min<int64_t>(len, a.sliding_window);
  if (len <= kMinSplitLen) return 1;
  absl::StatusOr<int> sms = SmCount();
  if (!sms.ok()) return sms.status();
  const int32_t group = a.num_heads / a.num_kv_heads;
  const int64_t heads_per_cta = DecodeHeadsPerCta(group);
  const int64_t ctas_per_split = static_cast<int64_t>(a.num_seqs) * a.num_kv_heads *
                                 ((group + heads_per_cta - 1) / heads_per_cta);
  const int64_t want = (4 * static_cast<int64_t>(*sms) + ctas_per_split - 1) / ctas_per_split;
  const int64_t by_len = (len + kMinSplitLen - 1) / kMinSplitLen;
  const int64_t splits = std::min({want, by_len, static_cast<int64_t>(kMaxSplits),
                                   static_cast<int64_t>(kSplitSlotBudget / a.num_seqs)});
  return static_cast<int32_t>(std::max<int64_t>(1, splits));
}

}  // namespace

absl::Status LaunchPagedAttention(const PagedAttentionArgs& args, void* workspace,
                                  int64_t workspace_bytes, cudaStream_t stream) {
  if (absl::Status s = Validate(args); !s.ok()) return s;
  const int64_t required =
      PagedAttentionWorkspaceBytes(args.num_tokens, args.num_seqs, args.num_heads, args.head_dim);
  if (workspace_bytes < required) {
    return Invalid("workspace of ", workspace_bytes, " bytes is smaller than the ", required,
                   " this step needs (PagedAttentionWorkspaceBytes)");
  }
  if (required > 0 && (workspace == nullptr || !Aligned16(workspace))) {
    return Invalid("workspace must be a non-null, 16-byte aligned device pointer");
  }
  if (args.num_seqs == 0 || args.num_tokens == 0) return absl::OkStatus();

  Params p{};
  p.q = args.q;
  p.kv = args.kv;
  p.out = args.out;
  p.qo_indptr = args.qo_indptr;
  p.kv_indptr = args.kv_indptr;
  p.kv_indices = args.kv_indices;
  p.num_cached = args.num_cached;
  p.num_seqs = args.num_seqs;
  p.num_heads = args.num_heads;
  p.num_kv_heads = args.num_kv_heads;
  p.group = args.num_heads / args.num_kv_heads;
  p.block_size = args.block_size;
  p.sliding_window = args.sliding_window;
  p.scale_log2 = static_cast<float>(M_LOG2E / std::sqrt(static_cast<double>(args.head_dim)));

  absl::StatusOr<int32_t> num_splits = NumSplits(args);
  if (!num_splits.ok()) return num_splits.status();
  DecodePartials partials;
  partials.num_splits = *num_splits;
  if (partials.num_splits > 1) {
    const int64_t slots =
        static_cast<int64_t>(args.num_seqs) * args.num_heads * partials.num_splits;
    const int64_t bytes = slots * (args.head_dim + 2) * static_cast<int64_t>(sizeof(float));
    if (bytes > workspace_bytes) {  // cannot happen with the plan above; never overrun
      return absl::InternalError(absl::StrCat("paged attention: split plan needs ", bytes,
                                              " workspace bytes, have ", workspace_bytes));
    }
    partials.acc = static_cast<float*>(workspace);
    partials.ml = partials.acc + slots * args.head_dim;
  }

  if (args.max_q_len > 1) {
    // Chunks of two or more tokens; the single-token sequences go to the decode kernel below.
    if (absl::Status s = paged_attention_internal::LaunchPagedPrefill(
            p, args.head_dim, args.max_q_len, /*min_q_len=*/2, stream);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s =
          paged_attention_internal::LaunchPagedDecode(p, args.head_dim, partials, stream);
      !s.ok()) {
    return s;
  }
  if (partials.num_splits > 1) {
    return paged_attention_internal::LaunchPagedDecodeReduce(p, args.head_dim, partials, stream);
  }
  return absl::OkStatus();
}

}  // namespace tessera
