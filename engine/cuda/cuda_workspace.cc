#include "engine/cuda/cuda_workspace.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/status_macros.h"

namespace tessera {

CudaWorkspace::~CudaWorkspace() {
  if (host_ints != nullptr) cudaFreeHost(host_ints);
  if (host_requests != nullptr) cudaFreeHost(host_requests);
  if (host_results != nullptr) cudaFreeHost(host_results);
}

absl::Status CudaWorkspace::Init(const ModelConfig& c, const CudaMemoryOptions& o) {
  const int64_t bytes = CudaActivationBytes(c, o);
  TESSERA_RETURN_IF_ERROR(arena.Allocate(bytes));
  const std::array<int64_t, kNumCudaWorkspaceParts> sizes = CudaWorkspacePartBytes(c, o);
  std::array<char*, kNumCudaWorkspaceParts> at{};
  char* p = arena.data();
  for (int i = 0; i < kNumCudaWorkspaceParts; ++i) {
    at[i] = p;
    p += CudaWorkspaceAlignedBytes(sizes[i]);
  }
  if (p - arena.data() != bytes) {
    return absl::InternalError(absl::StrCat("CUDA workspace carved ", p - arena.data(),
                                            " bytes; the memory plan reserved ", bytes));
  }
  auto part = [&at](CudaWorkspacePart which) { return at[static_cast<int>(which)]; };
  using P = CudaWorkspacePart;
  x = reinterpret_cast<float*>(part(P::kResidual));
  normed = reinterpret_cast<__nv_bfloat16*>(part(P::kNormed));
  qkv = reinterpret_cast<__nv_bfloat16*>(part(P::kQkv));
  q = reinterpret_cast<__nv_bfloat16*>(part(P::kQ));
  attn = reinterpret_cast<__nv_bfloat16*>(part(P::kAttn));
  delta = reinterpret_cast<__nv_bfloat16*>(part(P::kDelta));
  gate_up = reinterpret_cast<__nv_bfloat16*>(part(P::kGateUp));
  act = reinterpret_cast<__nv_bfloat16*>(part(P::kAct));
  selected = reinterpret_cast<__nv_bfloat16*>(part(P::kSelected));
  logits = reinterpret_cast<float*>(part(P::kLogits));
  requests = reinterpret_cast<GpuSampleRequest*>(part(P::kRequests));
  results = reinterpret_cast<GpuSampleResult*>(part(P::kResults));
  attention = part(P::kAttention);
  attention_bytes = sizes[static_cast<int>(P::kAttention)];
  dequant_elems = sizes[static_cast<int>(P::kDequant)] / 2;
  dequant = dequant_elems > 0 ? reinterpret_cast<__nv_bfloat16*>(part(P::kDequant)) : nullptr;
  const int64_t l = std::min(o.max_num_tokens, kCudaLogitRowsPerPass);
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaMallocHost(reinterpret_cast<void**>(&host_requests), l * sizeof(GpuSampleRequest)));
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaMallocHost(reinterpret_cast<void**>(&host_results), l * sizeof(GpuSampleResult)));
  return absl::OkStatus();
}

absl::Status CudaWorkspace::ReserveInts(int64_t n) {
  if (n <= host_ints_capacity) return absl::OkStatus();
  const int64_t cap = std::max<int64_t>(n, 2 * host_ints_capacity);
  if (host_ints != nullptr) cudaFreeHost(host_ints);
  host_ints = nullptr;
  host_ints_capacity = 0;
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaMallocHost(reinterpret_cast<void**>(&host_ints), cap * sizeof(int32_t)));
  host_ints_capacity = cap;
  return ints.Allocate(cap);
}

}  // namespace tessera
