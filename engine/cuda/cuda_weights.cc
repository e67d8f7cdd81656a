#include "engine/cuda/cuda_weights.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/random_fill.cuh"
#include "engine/dtype.h"
#include "engine/model_weights.h"
#include "engine/parallel_tasks.h"

namespace tessera {
namespace {

// Segments start on 128-byte boundaries so kernels can use 16-byte vector loads on any of them.
constexpr int64_t kAlignElements = 64;
int64_t AlignUp(int64_t n) { return (n + kAlignElements - 1) / kAlignElements * kAlignElements; }

// Element offsets of every tensor in the arena.
struct Layout {
  struct Layer {
    int64_t input_norm, post_norm, qkv, qkv_bias = -1, o, o_bias = -1, gate_up, gate_up_bias = -1,
                                        down, down_bias = -1;
  };
  int64_t embedding = 0, final_norm = 0, lm_head = -1;  // -1: tied to the embedding
  std::vector<Layer> layers;
  int64_t total = 0;

  // `quantized_linears`: the decoder Linears take no room (CudaQuantLinears holds them).
  Layout(const ModelConfig& c, bool quantized_linears) {
    const int64_t h = c.hidden_size, i = c.intermediate_size, qkv = c.q_size() + 2 * c.kv_size();
    auto take = [&](int64_t n) {
      const int64_t at = total;
      total += AlignUp(n);
      return at;
    };
    auto linear = [&](int64_t n) { return quantized_linears ? int64_t{-1} : take(n); };
    embedding = take(c.vocab_size * h);
    final_norm = take(h);
    if (!c.tie_word_embeddings) lm_head = take(c.vocab_size * h);
    layers.resize(c.num_hidden_layers);
    for (Layer& l : layers) {
      l.input_norm = take(h);
      l.post_norm = take(h);
      l.qkv = linear(qkv * h);
      if (c.qkv_bias) l.qkv_bias = take(qkv);
      l.o = linear(h * c.q_size());
      if (c.o_bias) l.o_bias = take(h);
      l.gate_up = linear(2 * i * h);
      if (c.mlp_bias) l.gate_up_bias = take(2 * i);
      l.down = linear(h * i);
      if (c.mlp_bias) l.down_bias = take(h);
    }
  }

  // Where tensor `s` goes: q, k and v (and gate and up) land back to back in their fused matrix.
  int64_t OffsetOf(const ModelConfig& c, const WeightSpec& s) const {
    const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), im = c.intermediate_size;
    if (s.kind == WeightKind::kEmbedding) return embedding;
    if (s.kind == WeightKind::kFinalNorm) return final_norm;
    if (s.kind == WeightKind::kLmHead) return lm_head;
    const Layer& l = layers[s.layer];
    switch (s.kind) {
      case WeightKind::kInputNorm:
        return l.input_norm;
      case WeightKind::kPostAttentionNorm:
        return l.post_norm;
      case WeightKind::kQ:
        return l.qkv;
      case WeightKind::kK:
        return l.qkv + q * h;
      case WeightKind::kV:
        return l.qkv + (q + kv) * h;
      case WeightKind::kQBias:
        return l.qkv_bias;
      case WeightKind::kKBias:
        return l.qkv_bias + q;
      case WeightKind::kVBias:
        return l.qkv_bias + q + kv;
      case WeightKind::kO:
        return l.o;
      case WeightKind::kOBias:
        return l.o_bias;
      case WeightKind::kGate:
        return l.gate_up;
      case WeightKind::kUp:
        return l.gate_up + im * h;
      case WeightKind::kGateBias:
        return l.gate_up_bias;
      case WeightKind::kUpBias:
        return l.gate_up_bias + im;
      case WeightKind::kDown:
        return l.down;
      case WeightKind::kDownBias:
        return l.down_bias;
      default:
        return -1;
    }
  }
};

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool IsDecoderLinear(WeightKind k) {
  return k == WeightKind::kQ || k == WeightKind::kK || k == WeightKind::kV || k == WeightKind::kO ||
         k == WeightKind::kGate || k == WeightKind::kUp || k == WeightKind::kDown;
}

bool IsNorm(WeightKind k) {
  return k == WeightKind::kFinalNorm || k == WeightKind::kInputNorm ||
         k == WeightKind::kPostAttentionNorm;
}

// Converts n elements of `src` (dtype t) to bf16 bits.
void ToBf16(DType t, const std::byte* src, int64_t n, uint16_t* dst) {
  switch (t) {
    case DType::kBF16:
      std::memcpy(dst, src, n * 2);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = FloatToBf16(F16ToFloat(h));
      }
      return;
    case DType::kF32:
      for (int64_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, src + 4 * i, 4);
        dst[i] = FloatToBf16(f);
      }
      return;
    case DType::kI32:  // quantized tensors: Checkpoint::Get refuses them before this point
    case DType::kI64:
    case DType::kF8E4M3:
      return;
  }
}

// Largest piece of a tensor one staging buffer takes: 16 MiB of bf16.
constexpr int64_t kStagingElements = int64_t{8} << 20;
// Upload threads at most: past a few, the PCIe link (about 25 GB/s for pinned copies) is the
// limit, and each thread pins 2 x 16 MiB.
constexpr int32_t kMaxUploadThreads = 8;

// Elements [begin, end) of tensor `tensor`, at most kStagingElements.
struct UploadChunk {
  size_t tensor = 0;
  int64_t begin = 0;
  int64_t end = 0;
};

// One upload thread's staging: two pinned host buffers and its own stream. The thread converts
// a chunk into one buffer while the device copies the other's, and the threads' streams copy at
// once, so reading the checkpoint (page faults on the mapped shards, bf16 conversion) overlaps
// the host-to-device transfers.
class UploadWorker {
 public:
  UploadWorker() = default;
  UploadWorker(const UploadWorker&) = delete;
  UploadWorker& operator=(const UploadWorker&) = delete;
  ~UploadWorker() {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);  // no copy may outlive its buffer
    for (int i = 0; i < 2; ++i) {
      if (done_[i] != nullptr) cudaEventDestroy(done_[i]);
      if (host_[i] != nullptr) cudaFreeHost(host_[i]);
    }
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // On the calling thread, which becomes the worker: CUDA's current device is per thread.
  absl::Status Init(int device) {
    TESSERA_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
    TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    for (int i = 0; i < 2; ++i) {
      TESSERA_CUDA_RETURN_IF_ERROR(
          cudaMallocHost(reinterpret_cast<void**>(&host_[i]), kStagingElements * 2));
      TESSERA_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming));
    }
    return absl::OkStatus();
  }

  // Converts `n` (at most kStagingElements) elements into the next free buffer and queues its
  // copy to `dst`.
  absl::Status Copy(DType t, const std::byte* src, int64_t n, __nv_bfloat16* dst) {
    // Wait until the device has finished reading this buffer's previous contents.
    TESSERA_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(done_[next_]));
    ToBf16(t, src, n, host_[next_]);
    TESSERA_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(dst, host_[next_], n * 2, cudaMemcpyHostToDevice, stream_));
    TESSERA_CUDA_RETURN_IF_ERROR(cudaEventRecord(done_[next_], stream_));
    next_ ^= 1;
    return absl::OkStatus();
  }

  absl::Status Finish() {
    TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    return absl::OkStatus();
  }

 private:
  cudaStream_t stream_ = nullptr;
  uint16_t* host_[2] = {nullptr, nullptr};
  cudaEvent_t done_[2] = {nullptr, nullptr};
  int next_ = 0;
};

}  // namespace

int64_t CudaWeights::BytesFor(const ModelConfig& config, bool quantized_linears) {
  return Layout(config, quantized_linears).total * 2;
}

void CudaWeights::SetQuantizedLinears(
    const std::vector<std::array<const QuantWeightView*, 4>>& views) {
  for (size_t l = 0; l < layers_.size() && l < views.size(); ++l) {
    layers_[l].qkv_q = views[l][0];
    layers_[l].o_q = views[l][1];
    layers_[l].gate_up_q = views[l][2];
    layers_[l].down_q = views[l][3];
  }
}

absl::StatusOr<CudaWeights> CudaWeights::Allocate(const ModelConfig& c, bool quantized_linears) {
  const Layout layout(c, quantized_linears);
  CudaWeights w;
  if (absl::Status s = w.arena_.Allocate(layout.total); !s.ok()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model weights (", layout.total * 2, " bytes): ", s.message()));
  }
  const __nv_bfloat16* base = w.arena_.data();
  auto at = [&](int64_t off) { return off < 0 ? nullptr : base + off; };
  w.embedding_ = at(layout.embedding);
  w.final_norm_ = at(layout.final_norm);
  w.lm_head_ = layout.lm_head < 0 ? w.embedding_ : at(layout.lm_head);
  for (const Layout::Layer& l : layout.layers) {
    w.layers_.push_back({at(l.input_norm), at(l.post_norm), at(l.qkv), at(l.qkv_bias), at(l.o),
                         at(l.o_bias), at(l.gate_up), at(l.gate_up_bias), at(l.down),
                         at(l.down_bias)});
  }
  return w;
}

absl::StatusOr<CudaWeights> CudaWeights::Upload(const ModelConfig& config,
                                                const Checkpoint& checkpoint, cudaStream_t stream,
                                                int32_t threads, WeightLoadStats* stats,
                                                bool quantized_linears) {
  const auto start = std::chrono::steady_clock::now();
  // Every tensor is checked before anything is allocated or copied.
  std::vector<WeightSpec> specs = ExpectedWeights(config);
  if (quantized_linears) {
    std::erase_if(specs, [](const WeightSpec& s) { return IsDecoderLinear(s.kind); });
  }
  std::vector<const TensorView*> views;
  WeightLoadStats local;
  std::vector<UploadChunk> chunks;
  for (size_t i = 0; i < specs.size(); ++i) {
    absl::StatusOr<const TensorView*> t = checkpoint.Get(specs[i].name, specs[i].shape);
    if (!t.ok()) return t.status();
    views.push_back(*t);
    const int64_t n = NumElements(specs[i].shape);
    for (int64_t b = 0; b < n; b += kStagingElements) {
      chunks.push_back({i, b, std::min(b + kStagingElements, n)});
    }
    local.bytes_read += static_cast<int64_t>((*t)->data.size());
    local.bytes_uploaded += n * 2;
  }
  absl::StatusOr<CudaWeights> w = Allocate(config, quantized_linears);
  if (!w.ok()) return w.status();
  // The arena is allocated on `stream`'s device; the workers' streams must not start before
  // anything queued there (none today, but an allocation may become stream-ordered).
  TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  int device = 0;
  TESSERA_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  const Layout layout(config, quantized_linears);
  const int32_t workers = static_cast<int32_t>(
      std::min<int64_t>(std::min(ResolveThreadCount(threads), kMaxUploadThreads),
                        std::max<int64_t>(1, static_cast<int64_t>(chunks.size()))));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<absl::Status> results(workers);
  RunParallel(workers, workers, [&](int64_t k) {
    UploadWorker worker;
    absl::Status s = worker.Init(device);
    for (size_t c = next.fetch_add(1); s.ok() && c < chunks.size() && !failed.load();
         c = next.fetch_add(1)) {
      const UploadChunk& chunk = chunks[c];
      const TensorView& view = *views[chunk.tensor];
      __nv_bfloat16* dst =
          w->arena_.data() + layout.OffsetOf(config, specs[chunk.tensor]) + chunk.begin;
      s = worker.Copy(view.dtype, view.data.data() + chunk.begin * DTypeSize(view.dtype),
                      chunk.end - chunk.begin, dst);
      if (!s.ok()) {
        s = absl::InternalError(
            absl::StrCat("uploading ", specs[chunk.tensor].name, ": ", s.message()));
      }
    }
    if (s.ok()) s = worker.Finish();
    if (!s.ok()) failed.store(true);
    results[k] = std::move(s);
  });
  for (absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  local.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (stats != nullptr) *stats = local;
  return w;
}

absl::StatusOr<CudaWeights> CudaWeights::Random(const ModelConfig& config, uint64_t seed,
                                                float scale, cudaStream_t stream,
                                                bool quantized_linears) {
  absl::StatusOr<CudaWeights> w = Allocate(config, quantized_linears);
  if (!w.ok()) return w.status();
  const Layout layout(config, quantized_linears);
  uint64_t tensor = 0;
  for (const WeightSpec& spec : ExpectedWeights(config)) {
    if (quantized_linears && IsDecoderLinear(spec.kind)) continue;
    const bool norm = IsNorm(spec.kind);
    __nv_bfloat16* dst = w->arena_.data() + layout.OffsetOf(config, spec);
    if (absl::Status s =
            LaunchRandomFillBf16(dst, NumElements(spec.shape), norm ? 0.8f : -scale,
                                 norm ? 1.2f : scale, seed * 1000003 + tensor++, stream);
        !s.ok()) {
      return s;
    }
  }
  TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return w;
}

}  // namespace tessera
