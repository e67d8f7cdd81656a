// The CUDA engine's device scratch for one step, carved from one allocation by the table of
// engine/memory_plan.h (CudaWorkspacePartBytes: the same table sizes the memory plan), plus the
// pinned host mirrors of what crosses the bus (the plan's integer arrays, sampler requests and
// results).
//
// Owned by CudaEngine; used from its one stepping thread; not thread-safe.
#ifndef TESSERA_ENGINE_CUDA_CUDA_WORKSPACE_H_
#define TESSERA_ENGINE_CUDA_CUDA_WORKSPACE_H_

#include <cuda_bf16.h>

#include <cstdint>

#include "absl/status/status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gpu_sampler.cuh"
#include "engine/memory_plan.h"
#include "engine/model_config.h"

namespace tessera {

struct CudaWorkspace {
  CudaWorkspace() = default;
  CudaWorkspace(const CudaWorkspace&) = delete;
  CudaWorkspace& operator=(const CudaWorkspace&) = delete;
  ~CudaWorkspace();

  // Allocates CudaActivationBytes(c, o) and carves CudaWorkspacePartBytes in order; the pinned
  // sampler mirrors hold min(max_num_tokens, kCudaLogitRowsPerPass) rows.
  absl::Status Init(const ModelConfig& c, const CudaMemoryOptions& o);
  // Grows the plan-array buffers (device and pinned host) to at least `n` int32 values.
  absl::Status ReserveInts(int64_t n);

  DeviceBuffer<char> arena;
  float* x = nullptr;                    // [T, hidden] residual stream
  __nv_bfloat16* normed = nullptr;       // [T, hidden]
  __nv_bfloat16* qkv = nullptr;          // [T, q + 2 kv]
  __nv_bfloat16* q = nullptr;            // [T, q] rotated
  __nv_bfloat16* attn = nullptr;         // [T, q]
  __nv_bfloat16* delta = nullptr;        // [T, hidden] o_proj / down_proj output
  __nv_bfloat16* gate_up = nullptr;      // [T, 2 intermediate]
  __nv_bfloat16* act = nullptr;          // [T, intermediate]
  __nv_bfloat16* selected = nullptr;     // [L, hidden] final-normed rows that need logits
  float* logits = nullptr;               // [L, vocab]
  GpuSampleRequest* requests = nullptr;  // [L]
  GpuSampleResult* results = nullptr;    // [L]
  void* attention = nullptr;
  int64_t attention_bytes = 0;
  __nv_bfloat16* dequant = nullptr;  // quantized Linears' bf16 weight for large steps, or null
  int64_t dequant_elems = 0;

  // The plan's integer arrays: uploaded in one copy from a pinned mirror; grown on demand.
  DeviceBuffer<int32_t> ints;
  int32_t* host_ints = nullptr;
  int64_t host_ints_capacity = 0;
  GpuSampleRequest* host_requests = nullptr;
  GpuSampleResult* host_results = nullptr;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_CUDA_WORKSPACE_H_
