// CUDA graphs of decode steps, captured once per (batch bucket, context bucket, variant) and
// replayed; the variant tells apart graphs of the same shape with different work (with and
// without LoRA kernels).
//
// A decode step of a large model is hundreds of short kernel launches; replaying a captured graph
// removes the launch gaps between them. Every pointer a captured step reads is a static buffer
// whose contents the engine rewrites before each replay; shapes are fixed by the bucket (the batch
// padded to a power of two, the attention split plan sized for the longest context of the bucket).
#ifndef TESSERA_ENGINE_CUDA_DECODE_GRAPHS_H_
#define TESSERA_ENGINE_CUDA_DECODE_GRAPHS_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <map>
#include <tuple>
#include <utility>

#include "absl/status/status.h"

namespace tessera {

class DecodeGraphCache {
 public:
  DecodeGraphCache() = default;
  DecodeGraphCache(const DecodeGraphCache&) = delete;
  DecodeGraphCache& operator=(const DecodeGraphCache&) = delete;
  ~DecodeGraphCache();

  // Smallest power of two >= n.
  static int32_t BatchBucket(int32_t n);
  // Smallest power of two >= max(len, 256), at most `cap`.
  static int64_t ContextBucket(int64_t len, int64_t cap);

  // Replays the graph of (batch, context, variant) on `stream`; on first use captures it by
  // running `enqueue`, which must only enqueue work on `stream`.
  absl::Status Launch(int32_t batch, int64_t context, int32_t variant, cudaStream_t stream,
                      const std::function<absl::Status()>& enqueue);

  int64_t num_graphs() const { return static_cast<int64_t>(graphs_.size()); }

 private:
  std::map<std::tuple<int32_t, int64_t, int32_t>, cudaGraphExec_t> graphs_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_DECODE_GRAPHS_H_
