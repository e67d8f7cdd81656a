// CudaWeights' sleep level 1: the arena to pinned host memory and back.
#include "engine/cuda/cuda_weights.h"

namespace tessera {

absl::Status CudaWeights::MoveToHost(PinnedHostBuffer* host, cudaStream_t stream) {
  if (arena_.size() == 0) return absl::FailedPreconditionError("the weights are not on the device");
  if (absl::Status s = host->Allocate(arena_.bytes()); !s.ok()) return s;
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(host->data(), arena_.data(), arena_.bytes(), cudaMemcpyDeviceToHost, stream));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  offloaded_base_ = arena_.data();
  arena_ = DeviceBuffer<__nv_bfloat16>();
  return absl::OkStatus();
}

absl::Status CudaWeights::MoveToDevice(const PinnedHostBuffer& host, cudaStream_t stream) {
  if (offloaded_base_ == nullptr)
    return absl::FailedPreconditionError("the weights are on the device");
  DeviceBuffer<__nv_bfloat16> arena;
  if (absl::Status s = arena.Allocate(host.bytes() / static_cast<int64_t>(sizeof(__nv_bfloat16)));
      !s.ok()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("waking: model weights (", host.bytes(), " bytes): ", s.message()));
  }
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(arena.data(), host.data(), host.bytes(), cudaMemcpyHostToDevice, stream));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  arena_ = std::move(arena);
  Rebase(offloaded_base_, arena_.data());
  offloaded_base_ = nullptr;
  return absl::OkStatus();
}

void CudaWeights::Rebase(const __nv_bfloat16* from, const __nv_bfloat16* to) {
  auto move = [from, to](const __nv_bfloat16*& p) {
    if (p != nullptr) p = to + (p - from);
  };
  move(embedding_);
  move(final_norm_);
  move(lm_head_);
  for (CudaLayerWeights& l : layers_) {
    for (const __nv_bfloat16** p :
         {&l.input_norm, &l.post_attention_norm, &l.qkv, &l.qkv_bias, &l.o, &l.o_bias, &l.gate_up,
          &l.gate_up_bias, &l.down, &l.down_bias}) {
      move(*p);
    }
  }
}

}  // namespace tessera
