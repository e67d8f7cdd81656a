// The model's weights on the device, in bf16, in one allocation.
//
// Fusions happen in the layout, at load: q|k|v rows are stored back to back as one
// [q + 2 kv, hidden] matrix, and gate|up as one [2 * intermediate, hidden] matrix, so each layer
// runs one GEMM for each (the same for their biases). f16 and f32 checkpoints are converted to
// bf16 on the host while staging. A tied lm_head points at the embedding.
//
// Immutable after Upload or Random; the device memory is freed with the object.
#ifndef TESSERA_ENGINE_CUDA_CUDA_WEIGHTS_H_
#define TESSERA_ENGINE_CUDA_CUDA_WEIGHTS_H_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/checkpoint.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/pinned_host_buffer.h"
#include "engine/model_config.h"

namespace tessera {

struct QuantWeightView;  // quant_weight_view.h

struct CudaLayerWeights {
  const __nv_bfloat16* input_norm = nullptr;           // [hidden]
  const __nv_bfloat16* post_attention_norm = nullptr;  // [hidden]
  const __nv_bfloat16* qkv = nullptr;                  // [q + 2 kv, hidden]
  const __nv_bfloat16* qkv_bias = nullptr;             // [q + 2 kv] or nullptr
  const __nv_bfloat16* o = nullptr;                    // [hidden, q]
  const __nv_bfloat16* o_bias = nullptr;               // [hidden] or nullptr
  const __nv_bfloat16* gate_up = nullptr;              // [2 intermediate, hidden]
  const __nv_bfloat16* gate_up_bias = nullptr;         // [2 intermediate] or nullptr
  const __nv_bfloat16* down = nullptr;                 // [hidden, intermediate]
  const __nv_bfloat16* down_bias = nullptr;            // [hidden] or nullptr
  // Quantized models: the packed Linears (CudaQuantLinears) instead of qkv, o, gate_up, down.
  const QuantWeightView* qkv_q = nullptr;
  const QuantWeightView* o_q = nullptr;
  const QuantWeightView* gate_up_q = nullptr;
  const QuantWeightView* down_q = nullptr;
};

struct WeightLoadStats {
  int64_t bytes_read = 0;      // from the checkpoint files
  int64_t bytes_uploaded = 0;  // bf16 bytes written to the device
  double seconds = 0;

  double GBPerSecond() const { return seconds > 0 ? bytes_read / seconds / 1e9 : 0; }
};

class CudaWeights {
 public:
  // Device bytes the weights of `config` take (what the memory plan reserves); without the
  // decoder Linears when `quantized_linears` (CudaQuantLinears holds them).
  static int64_t BytesFor(const ModelConfig& config, bool quantized_linears = false);

  // Checks every tensor (presence, shape), then uploads in chunks: each of `threads` host threads
  // (0: the hardware's count; at most 8) reads and converts chunks into its two pinned staging
  // buffers and copies them on its own stream, so reads overlap transfers. The weights are
  // complete on return (the worker streams are synchronized), for work queued on `stream` after.
  // With `quantized_linears` the decoder Linears are left out (neither checked nor uploaded here).
  static absl::StatusOr<CudaWeights> Upload(const ModelConfig& config, const Checkpoint& checkpoint,
                                            cudaStream_t stream, int32_t threads,
                                            WeightLoadStats* stats, bool quantized_linears = false);

  // Points every layer's Linears at `views` ([layers][qkv, o, gate_up, down]), which outlive
  // this object's use.
  void SetQuantizedLinears(const std::vector<std::array<const QuantWeightView*, 4>>& views);

  // Uniform values in [-scale, scale] (norms in [0.8, 1.2]) generated on the device: benchmark
  // shapes without files. Deterministic in `seed`.
  static absl::StatusOr<CudaWeights> Random(const ModelConfig& config, uint64_t seed, float scale,
                                            cudaStream_t stream, bool quantized_linears = false);

  const __nv_bfloat16* embedding() const { return embedding_; }  // [vocab, hidden]
  const __nv_bfloat16* final_norm() const { return final_norm_; }
  const __nv_bfloat16* lm_head() const { return lm_head_; }  // [vocab, hidden]
  const std::vector<CudaLayerWeights>& layers() const { return layers_; }
  int64_t bytes() const { return arena_.bytes(); }

  // Sleep level 1 (cuda_weights_offload.cc): MoveToHost copies the weights into `host` (pinned)
  // and frees the device copy; the accessors must not be used until MoveToDevice has put them in
  // a fresh allocation (and pointed them there). On error nothing has changed.
  absl::Status MoveToHost(PinnedHostBuffer* host, cudaStream_t stream);
  absl::Status MoveToDevice(const PinnedHostBuffer& host, cudaStream_t stream);

 private:
  static absl::StatusOr<CudaWeights> Allocate(const ModelConfig& config, bool quantized_linears);
  // Points every weight at the same offset from `to` as it had from `from`.
  void Rebase(const __nv_bfloat16* from, const __nv_bfloat16* to);

  DeviceBuffer<__nv_bfloat16> arena_;
  const __nv_bfloat16* embedding_ = nullptr;
  const __nv_bfloat16* final_norm_ = nullptr;
  const __nv_bfloat16* lm_head_ = nullptr;
  std::vector<CudaLayerWeights> layers_;
  const __nv_bfloat16* offloaded_base_ = nullptr;  // the freed arena's address while on the host
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_CUDA_WEIGHTS_H_
