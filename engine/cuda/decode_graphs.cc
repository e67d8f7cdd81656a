#include "engine/cuda/decode_graphs.h"

#include <algorithm>

#include "engine/cuda/cuda_status.h"

namespace tessera {

DecodeGraphCache::~DecodeGraphCache() {
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
}

int32_t DecodeGraphCache::BatchBucket(int32_t n) {
  int32_t b = 1;
  while (b < n) b *= 2;
  return b;
}

int64_t DecodeGraphCache::ContextBucket(int64_t len, int64_t cap) {
  int64_t b = 256;
  while (b < len) b *= 2;
  return std::min(b, std::max(cap, len));
}

absl::Status DecodeGraphCache::Launch(int32_t batch, int64_t context, int32_t variant,
                                      cudaStream_t stream,
                                      const std::function<absl::Status()>& enqueue) {
  const auto key = std::make_tuple(batch, context, variant);
  auto it = graphs_.find(key);
  if (it == graphs_.end()) {
    // Relaxed mode: the launchers may query device attributes while the stream is captured.
    TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    const absl::Status enqueued = enqueue();
    cudaGraph_t graph = nullptr;
    // The capture must end whatever happened, or the stream stays unusable.
    const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
    if (!enqueued.ok()) {
      if (graph != nullptr) cudaGraphDestroy(graph);
      return enqueued;
    }
    TESSERA_CUDA_RETURN_IF_ERROR(ended);
    cudaGraphExec_t exec = nullptr;
    const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    TESSERA_CUDA_RETURN_IF_ERROR(made);
    it = graphs_.emplace(key, exec).first;
  }
  return CudaStatus(cudaGraphLaunch(it->second, stream), "cudaGraphLaunch");
}

}  // namespace tessera
