// CudaEngine's sleep mode (cuda_engine.h): Sleep and WakeUp.
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/checkpoint.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/cuda_status.h"

namespace tessera {

absl::Status CudaEngine::Sleep(SleepLevel level) {
  if (level == SleepLevel::kAwake) return absl::InvalidArgumentError("Sleep needs level 1 or 2");
  if (sleep_level_ != SleepLevel::kAwake) {
    return absl::FailedPreconditionError("the engine is asleep already");
  }
  // The packed Linears (CudaQuantLinears) live outside the weight arena that MoveToHost and a
  // reload handle; until that path has run on a GPU, refuse rather than keep them resident.
  if (quant_ != nullptr) {
    return absl::UnimplementedError(
        "sleep mode with quantized weights is not implemented on the CUDA engine yet");
  }
  if (level == SleepLevel::kDiscardWeights && model_dir_.empty()) {
    return absl::FailedPreconditionError(
        "this engine's weights were generated, not loaded: level 2 would have nothing to reload "
        "them from (level 1 keeps them on the host)");
  }
  TESSERA_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  if (level == SleepLevel::kOffloadWeights) {
    if (absl::Status s = weights_.MoveToHost(&offloaded_weights_, stream_); !s.ok()) return s;
  } else {
    weights_ = CudaWeights();
  }
  ReleaseBuffers();
  sleep_level_ = level;
  return absl::OkStatus();
}

absl::Status CudaEngine::WakeUp() {
  if (sleep_level_ == SleepLevel::kAwake)
    return absl::FailedPreconditionError("the engine is awake");
  TESSERA_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  const bool offloaded = sleep_level_ == SleepLevel::kOffloadWeights;
  if (offloaded) {
    if (absl::Status s = weights_.MoveToDevice(offloaded_weights_, stream_); !s.ok()) return s;
  } else {
    absl::StatusOr<std::unique_ptr<Checkpoint>> checkpoint = Checkpoint::Open(model_dir_);
    if (!checkpoint.ok()) {
      return absl::Status(
          checkpoint.status().code(),
          absl::StrCat("waking: reloading the weights: ", checkpoint.status().message()));
    }
    absl::StatusOr<CudaWeights> weights = CudaWeights::Upload(
        config_, **checkpoint, stream_, options_.weight_load_threads, &load_stats_);
    if (!weights.ok()) {
      return absl::Status(weights.status().code(), absl::StrCat("waking: reloading the weights: ",
                                                                weights.status().message()));
    }
    weights_ = *std::move(weights);
  }
  // The scheduler sized its block manager from kv_geometry(): the wake must bring back exactly
  // as many blocks, or fail if the card no longer has room for them.
  const int32_t configured_blocks = options_.num_kv_blocks;
  options_.num_kv_blocks = plan_.num_kv_blocks;
  const MemoryPlan asleep_plan = plan_;
  absl::Status buffers = InitBuffers(weights_.bytes());
  options_.num_kv_blocks = configured_blocks;
  if (!buffers.ok()) {
    ReleaseBuffers();
    plan_ = asleep_plan;
    if (offloaded) {
      (void)weights_.MoveToHost(&offloaded_weights_, stream_);
    } else {
      weights_ = CudaWeights();
    }
    return absl::Status(buffers.code(),
                        absl::StrCat("waking: KV cache and workspace: ", buffers.message()));
  }
  offloaded_weights_.Free();
  sleep_level_ = SleepLevel::kAwake;
  return absl::OkStatus();
}

}  // namespace tessera
