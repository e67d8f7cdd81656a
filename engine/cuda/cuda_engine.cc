#include "engine/cuda/cuda_engine.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/checkpoint.h"
#include "engine/context_limit.h"
#include "engine/cpu/rope.h"
#include "engine/cuda/add_rms_norm.cuh"
#include "engine/cuda/broadcast_rows.cuh"
#include "engine/cuda/copy_kv_blocks.cuh"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/decode_graphs.h"
#include "engine/cuda/device_info.h"
#include "engine/cuda/embedding.cuh"
#include "engine/cuda/gpu_sampler.cuh"
#include "engine/cuda/lora_args.h"
#include "engine/cuda/lora_args_check.h"
#include "engine/cuda/lora_bgmv.cuh"
#include "engine/cuda/lora_sgmv.cuh"
#include "engine/cuda/paged_attention.cuh"
#include "engine/cuda/rope_kv_write.cuh"
#include "engine/cuda/silu_mul.cuh"

namespace tessera {
namespace {

// lm_head runs over at most this many rows at a time, so prompt log-probabilities of a long
// chunk need no [tokens, vocab] logits buffer.
constexpr int32_t kLogitRowsPerPass = kCudaLogitRowsPerPass;

// The memory plan (engine/memory_plan.h, shared with `tessera plan`) sizes these without CUDA.
static_assert(sizeof(GpuSampleRequest) == kCudaSampleRequestBytes);
static_assert(sizeof(GpuSampleResult) == kCudaSampleResultBytes);
static_assert(CublasHandle::kWorkspaceBytes == kCublasWorkspaceBytes);

// A step's LoRA runs segmented (SGMV) when its adapter rows average at least this many per
// segment (prefill chunks), gathered per row (BGMV) otherwise (decodes).
constexpr int32_t kSgmvMinRowsPerSegment = 4;

constexpr int64_t kAlign = 256;
int64_t AlignBytes(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// A run of consecutive token rows with one adapter slot (-1: the base model).
struct LoraRun {
  int32_t start;
  int32_t slot;
};

// The plan's rows as runs (a sequence's rows are consecutive; neighbours with the same slot merge),
// and how many rows run with an adapter.
std::vector<LoraRun> LoraRunsOf(const StepPlan& plan, int64_t* adapter_rows,
                                int64_t* adapter_runs) {
  std::vector<LoraRun> runs;
  *adapter_rows = 0;
  *adapter_runs = 0;
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    const int32_t begin = plan.qo_indptr[s], end = plan.qo_indptr[s + 1];
    if (end == begin) continue;
    const int32_t slot = plan.seqs[s].adapter_slot;
    if (slot >= 0) *adapter_rows += end - begin;
    if (!runs.empty() && runs.back().slot == slot) continue;
    runs.push_back({begin, slot});
    if (slot >= 0) ++*adapter_runs;
  }
  return runs;
}

// The plan's block copies as (src, dst) pairs into `h`, as the copy kernel reads them.
void WriteBlockCopies(const StepPlan& plan, int32_t* h) {
  for (const BlockCopy& c : plan.block_copies) {
    *h++ = c.src;
    *h++ = c.dst;
  }
}

#define TESSERA_RETURN_IF_ERROR(expr)                                   \
  do {                                                                  \
    if (absl::Status tessera_status_ = (expr); !tessera_status_.ok()) { \
      return tessera_status_;                                           \
    }                                                                   \
  } while (0)

}  // namespace

// Device scratch for one step, carved from one allocation, plus pinned host mirrors of what
// crosses the bus.
struct CudaEngine::Workspace {
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

  // The plan's integer arrays: uploaded in one copy from a pinned mirror; grown on demand.
  DeviceBuffer<int32_t> ints;
  int32_t* host_ints = nullptr;
  int64_t host_ints_capacity = 0;
  GpuSampleRequest* host_requests = nullptr;
  GpuSampleResult* host_results = nullptr;

  ~Workspace() {
    if (host_ints != nullptr) cudaFreeHost(host_ints);
    if (host_requests != nullptr) cudaFreeHost(host_requests);
    if (host_results != nullptr) cudaFreeHost(host_results);
  }

  // `bytes`: CudaActivationBytes, which carves exactly what follows.
  absl::Status Init(const ModelConfig& c, const CudaEngineOptions& o, int64_t bytes) {
    TESSERA_RETURN_IF_ERROR(arena.Allocate(bytes));
    char* p = arena.data();
    auto take = [&p](int64_t bytes) {
      char* at = p;
      p += AlignBytes(bytes);
      return at;
    };
    const int64_t t = o.max_num_tokens, h = c.hidden_size, im = c.intermediate_size;
    const int64_t l = std::min(o.max_num_tokens, kLogitRowsPerPass);
    x = reinterpret_cast<float*>(take(t * h * 4));
    normed = reinterpret_cast<__nv_bfloat16*>(take(t * h * 2));
    qkv = reinterpret_cast<__nv_bfloat16*>(take(t * (c.q_size() + 2 * c.kv_size()) * 2));
    q = reinterpret_cast<__nv_bfloat16*>(take(t * c.q_size() * 2));
    attn = reinterpret_cast<__nv_bfloat16*>(take(t * c.q_size() * 2));
    delta = reinterpret_cast<__nv_bfloat16*>(take(t * h * 2));
    gate_up = reinterpret_cast<__nv_bfloat16*>(take(t * 2 * im * 2));
    act = reinterpret_cast<__nv_bfloat16*>(take(t * im * 2));
    selected = reinterpret_cast<__nv_bfloat16*>(take(l * h * 2));
    logits = reinterpret_cast<float*>(take(l * c.vocab_size * 4));
    requests = reinterpret_cast<GpuSampleRequest*>(take(l * int64_t{sizeof(GpuSampleRequest)}));
    results = reinterpret_cast<GpuSampleResult*>(take(l * int64_t{sizeof(GpuSampleResult)}));
    attention_bytes = PagedAttentionWorkspaceBytes(o.max_num_tokens, o.max_num_seqs,
                                                   static_cast<int32_t>(c.num_attention_heads),
                                                   static_cast<int32_t>(c.head_dim));
    attention = take(attention_bytes);
    if (p - arena.data() != bytes) {
      return absl::InternalError(absl::StrCat("CUDA workspace carved ", p - arena.data(),
                                              " bytes; the memory plan reserved ", bytes));
    }
    TESSERA_CUDA_RETURN_IF_ERROR(
        cudaMallocHost(reinterpret_cast<void**>(&host_requests), l * sizeof(GpuSampleRequest)));
    TESSERA_CUDA_RETURN_IF_ERROR(
        cudaMallocHost(reinterpret_cast<void**>(&host_results), l * sizeof(GpuSampleResult)));
    return absl::OkStatus();
  }

  absl::Status ReserveInts(int64_t n) {
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
};

CudaEngine::CudaEngine(ModelConfig config, const CudaEngineOptions& options)
    : config_(std::move(config)),
      options_(options),
      block_size_(options.block_size),
      graphs_(std::make_unique<DecodeGraphCache>()) {}

CudaEngine::~CudaEngine() {
  // Buffers free themselves; the stream must outlive the work queued on it.
  if (stream_ != nullptr) {
    cudaStreamSynchronize(stream_);
  }
  graphs_.reset();
  if (graph_host_ints_ != nullptr) cudaFreeHost(graph_host_ints_);
  ws_.reset();
  cublas_.reset();
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

namespace {

absl::Status CheckOptions(const ModelConfig& c, const CudaEngineOptions& o) {
  absl::StatusOr<std::vector<CudaDeviceInfo>> devices = ListCudaDevices();
  if (!devices.ok()) return devices.status();
  if (o.device < 0 || o.device >= static_cast<int32_t>(devices->size())) {
    return absl::FailedPreconditionError(
        absl::StrCat("CUDA device ", o.device, " not found (", devices->size(), " visible)"));
  }
  const CudaDeviceInfo& d = (*devices)[o.device];
  if (!IsSupportedCudaDevice(d)) {
    return absl::FailedPreconditionError(absl::StrCat("CUDA device ", d.name, " is sm_",
                                                      d.compute_major, d.compute_minor,
                                                      "; tessera needs sm_80 or newer"));
  }
  if (c.head_dim != 64 && c.head_dim != 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("the CUDA backend supports head_dim 64 and 128; this model has ", c.head_dim));
  }
  if (c.vocab_size > kMaxGpuSamplerVocab) {
    return absl::InvalidArgumentError(absl::StrCat("the CUDA sampler supports vocabularies up to ",
                                                   kMaxGpuSamplerVocab, "; this model has ",
                                                   c.vocab_size));
  }
  if (o.block_size < 1 || o.block_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV block size must be in [1, 1024], got ", o.block_size));
  }
  if (o.max_num_tokens < 1 || o.max_num_seqs < 1 || o.max_num_seqs > o.max_num_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("need 1 <= max_num_seqs (", o.max_num_seqs,
                                                   ") <= max_num_tokens (", o.max_num_tokens, ")"));
  }
  if (o.max_loras < 0 || o.max_loras > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("max LoRA slots must be in [0, 4096], got ", o.max_loras));
  }
  if (o.max_loras > 0 && (o.max_lora_rank < 1 || o.max_lora_rank > kMaxLoraKernelRank)) {
    return absl::InvalidArgumentError(absl::StrCat("max LoRA rank must be in [1, ",
                                                   kMaxLoraKernelRank, "], got ", o.max_lora_rank));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CudaEngine::InitStream() {
  TESSERA_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  absl::StatusOr<CublasHandle> handle = CublasHandle::Create(stream_);
  if (!handle.ok()) return handle.status();
  cublas_ = std::make_unique<CublasHandle>(*std::move(handle));
  return absl::OkStatus();
}

CudaMemoryOptions CudaEngine::MemoryOptions() const {
  CudaMemoryOptions m;
  m.block_size = block_size_;
  m.gpu_memory_utilization = options_.gpu_memory_utilization;
  m.num_kv_blocks = options_.num_kv_blocks;
  m.max_num_tokens = options_.max_num_tokens;
  m.max_num_seqs = options_.max_num_seqs;
  m.max_loras = options_.max_loras;
  m.max_lora_rank = options_.max_lora_rank;
  return m;
}

absl::Status CudaEngine::InitBuffers(int64_t weight_bytes) {
  size_t free_bytes = 0, total_bytes = 0;
  TESSERA_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes));
  const CudaMemoryOptions mo = MemoryOptions();
  MemoryPlanInputs in = CudaMemoryPlanInputs(config_, mo);
  in.device_total_bytes = static_cast<int64_t>(total_bytes);
  // The weights (and cuBLAS's workspace) are already on the card: count them as ours.
  in.device_free_bytes = static_cast<int64_t>(free_bytes) + weight_bytes;
  in.weight_bytes = weight_bytes;
  absl::StatusOr<MemoryPlan> plan = PlanDeviceMemory(in);
  if (!plan.ok()) return plan.status();
  plan_ = *plan;
  ws_ = std::make_unique<Workspace>();
  TESSERA_RETURN_IF_ERROR(ws_->Init(config_, options_, CudaActivationBytes(config_, mo)));
  TESSERA_RETURN_IF_ERROR(kv_.Allocate(plan_.kv_bytes / 2));
  if (options_.max_loras > 0) {
    KvPoolView view;
    view.base = kv_.data();
    view.num_layers = static_cast<int32_t>(config_.num_hidden_layers);
    view.num_blocks = plan_.num_kv_blocks;
    view.chunk_elems = 2 * int64_t{block_size_} * config_.kv_size();
    absl::StatusOr<std::unique_ptr<DeviceLoraPool>> pool = DeviceLoraPool::Create(
        config_, options_.max_loras + 1, options_.max_lora_rank, options_.max_num_tokens, view);
    if (!pool.ok()) return pool.status();
    lora_ = *std::move(pool);
  }
  const std::vector<float> inv_freq =
      RopeInverseFrequencies(config_.head_dim, config_.rope_theta, config_.rope_scaling);
  TESSERA_RETURN_IF_ERROR(inv_freq_.Allocate(static_cast<int64_t>(inv_freq.size())));
  return inv_freq_.CopyFromHost(inv_freq.data(), static_cast<int64_t>(inv_freq.size()), stream_);
}

void CudaEngine::ReleaseBuffers() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  graphs_ = std::make_unique<DecodeGraphCache>();  // captured with the freed buffers' addresses
  graph_ints_ = DeviceBuffer<int32_t>();
  lora_.reset();
  kv_ = DeviceBuffer<__nv_bfloat16>();
  ws_.reset();
  inv_freq_ = DeviceBuffer<float>();
}

absl::StatusOr<std::unique_ptr<CudaEngine>> CudaEngine::Load(const std::string& model_dir,
                                                             const CudaEngineOptions& options) {
  absl::StatusOr<ModelConfig> config = LoadModelConfig(model_dir);
  if (!config.ok()) return config.status();
  TESSERA_RETURN_IF_ERROR(ApplyMaxModelLen(options.max_model_len, &*config));
  TESSERA_RETURN_IF_ERROR(RefuseQuantizedOnCuda(config->quantization));
  TESSERA_RETURN_IF_ERROR(CheckOptions(*config, options));
  absl::StatusOr<std::unique_ptr<Checkpoint>> checkpoint = Checkpoint::Open(model_dir);
  if (!checkpoint.ok()) return checkpoint.status();
  std::unique_ptr<CudaEngine> e(new CudaEngine(*std::move(config), options));
  TESSERA_RETURN_IF_ERROR(e->InitStream());
  absl::StatusOr<CudaWeights> weights =
      CudaWeights::Upload(e->config_, **checkpoint, e->stream_, &e->load_stats_);
  if (!weights.ok()) return weights.status();
  e->weights_ = *std::move(weights);
  TESSERA_RETURN_IF_ERROR(e->InitBuffers(e->weights_.bytes()));
  e->model_dir_ = model_dir;
  return e;
}

absl::StatusOr<std::unique_ptr<CudaEngine>> CudaEngine::CreateRandom(
    const ModelConfig& model, uint64_t seed, const CudaEngineOptions& options) {
  ModelConfig config = model;
  TESSERA_RETURN_IF_ERROR(ApplyMaxModelLen(options.max_model_len, &config));
  TESSERA_RETURN_IF_ERROR(CheckOptions(config, options));
  std::unique_ptr<CudaEngine> e(new CudaEngine(config, options));
  TESSERA_RETURN_IF_ERROR(e->InitStream());
  absl::StatusOr<CudaWeights> weights = CudaWeights::Random(e->config_, seed, 0.05f, e->stream_);
  if (!weights.ok()) return weights.status();
  e->weights_ = *std::move(weights);
  TESSERA_RETURN_IF_ERROR(e->InitBuffers(e->weights_.bytes()));
  return e;
}

absl::StatusOr<int32_t> CudaEngine::AdapterKvBlocks(const LoraWeights& weights) const {
  if (sleep_level_ != SleepLevel::kAwake)
    return absl::FailedPreconditionError("the engine is asleep");
  if (lora_ == nullptr) {
    return absl::FailedPreconditionError("this CUDA engine was created without LoRA slots");
  }
  return lora_->BlocksFor(weights);
}

absl::Status CudaEngine::SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                                    absl::Span<const int32_t> kv_blocks) {
  // The pool's last slot is the engine's own, always empty (SGMV's base-model segments).
  if (slot < 0 || slot >= num_adapter_slots()) {
    return absl::InvalidArgumentError(
        absl::StrCat("adapter slot ", slot, " outside [0, ", num_adapter_slots(), ")"));
  }
  // Asleep, every slot is empty already (the pool is gone).
  if (sleep_level_ != SleepLevel::kAwake) {
    return weights == nullptr ? absl::OkStatus()
                              : absl::FailedPreconditionError("the engine is asleep");
  }
  return lora_->Set(slot, std::move(weights), kv_blocks, stream_);
}

absl::Status CudaEngine::WaitForAdapters(const StepPlan& plan) {
  if (lora_ == nullptr) return absl::OkStatus();
  std::vector<int32_t> used;
  for (const StepSequence& seq : plan.seqs) {
    if (seq.adapter_slot >= 0) used.push_back(seq.adapter_slot);
  }
  if (used.empty()) return lora_->BeforeStep({}, stream_);
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  return lora_->BeforeStep(used, stream_);
}

absl::Status CudaEngine::Synchronize() {
  if (lora_ != nullptr) TESSERA_RETURN_IF_ERROR(lora_->Synchronize());
  return CudaStatus(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
}

// Device addresses of one step's plan arrays, and its shape.
struct CudaEngine::DeviceStep {
  const int32_t* token_ids = nullptr;
  const int32_t* positions = nullptr;
  const int32_t* slots = nullptr;
  const int32_t* qo_indptr = nullptr;
  const int32_t* kv_indptr = nullptr;
  const int32_t* kv_indices = nullptr;
  const int32_t* last_len = nullptr;
  const int32_t* num_cached = nullptr;
  const int32_t* rows = nullptr;        // the token rows that need logits
  const int32_t* row_slot = nullptr;    // per token row: its adapter slot or -1
  const int32_t* seg_starts = nullptr;  // LoRA segments (eager steps that run SGMV)
  const int32_t* seg_slots = nullptr;
  int32_t num_segments = 0;
  int32_t max_segment_rows = 0;
  bool lora = false;  // some row runs with an adapter
  bool sgmv = false;
  int32_t num_tokens = 0;
  int32_t num_seqs = 0;
  int32_t max_q_len = 0;
  int64_t max_kv_len = 0;
};

// Where the host mirror of the plan's arrays puts each one: offsets into one int32 buffer.
struct CudaEngine::IntsLayout {
  int64_t token_ids, positions, slots, qo_indptr, kv_indptr, last_len, num_cached, rows, row_slot,
      seg_starts, seg_slots, kv_indices, total;
  int64_t block_copies;  // (src, dst) pairs, after everything else

  // Room for `tokens` tokens, `seqs` sequences, `blocks` page-table entries, `copies` block
  // copies and `segments` LoRA segments.
  static IntsLayout For(int64_t tokens, int64_t seqs, int64_t blocks, int64_t copies = 0,
                        int64_t segments = 0) {
    IntsLayout l{};
    int64_t at = 0;
    auto take = [&at](int64_t n) {
      const int64_t o = at;
      at += n;
      return o;
    };
    l.token_ids = take(tokens);
    l.positions = take(tokens);
    l.slots = take(tokens);
    l.qo_indptr = take(seqs + 1);
    l.kv_indptr = take(seqs + 1);
    l.last_len = take(seqs);
    l.num_cached = take(seqs);
    l.rows = take(tokens);
    l.row_slot = take(tokens);
    l.seg_starts = take(segments + 1);
    l.seg_slots = take(segments);
    l.kv_indices = take(blocks);
    l.block_copies = take(2 * copies);
    l.total = at;
    return l;
  }

  DeviceStep On(const int32_t* d) const {
    DeviceStep s;
    s.token_ids = d + token_ids;
    s.positions = d + positions;
    s.slots = d + slots;
    s.qo_indptr = d + qo_indptr;
    s.kv_indptr = d + kv_indptr;
    s.kv_indices = d + kv_indices;
    s.last_len = d + last_len;
    s.num_cached = d + num_cached;
    s.rows = d + rows;
    s.row_slot = d + row_slot;
    s.seg_starts = d + seg_starts;
    s.seg_slots = d + seg_slots;
    return s;
  }
};

absl::Status CudaEngine::CheckPlan(const StepPlan& plan) const {
  TESSERA_RETURN_IF_ERROR(plan.Validate(config_.vocab_size, plan_.num_kv_blocks, block_size_,
                                        config_.max_position_embeddings));
  const int32_t n = plan.num_tokens(), num_seqs = plan.num_seqs();
  if (n > options_.max_num_tokens || num_seqs > options_.max_num_seqs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step of ", n, " tokens and ", num_seqs, " sequences exceeds the engine's limits (",
        options_.max_num_tokens, " tokens, ", options_.max_num_seqs, " sequences)"));
  }
  for (int32_t s = 0; s < num_seqs; ++s) {
    const StepSequence& seq = plan.seqs[s];
    if (seq.prompt_top_k > kMaxTopK || seq.sampling.num_logprobs > kMaxTopK) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s, ": at most ", kMaxTopK, " log-probabilities per position"));
    }
    if (seq.adapter_slot >= num_adapter_slots()) {
      return absl::InvalidArgumentError(absl::StrCat("step plan: sequence ", s, ": adapter slot ",
                                                     seq.adapter_slot, " outside [0, ",
                                                     num_adapter_slots(), ")"));
    }
    if (seq.adapter_slot >= 0 && !lora_->filled(seq.adapter_slot)) {
      return absl::InvalidArgumentError(absl::StrCat("step plan: sequence ", s, ": adapter slot ",
                                                     seq.adapter_slot, " is empty"));
    }
  }
  return absl::OkStatus();
}

// Writes the plan's arrays into `h` at `l`'s offsets; returns the token rows that need logits.
std::vector<int32_t> CudaEngine::FillInts(const StepPlan& plan, const IntsLayout& l, int32_t* h,
                                          DeviceStep* shape) const {
  const PageTable& pt = plan.page_table;
  std::copy(plan.token_ids.begin(), plan.token_ids.end(), h + l.token_ids);
  std::copy(plan.qo_indptr.begin(), plan.qo_indptr.end(), h + l.qo_indptr);
  std::copy(pt.indptr.begin(), pt.indptr.end(), h + l.kv_indptr);
  std::copy(pt.indices.begin(), pt.indices.end(), h + l.kv_indices);
  std::copy(pt.last_block_len.begin(), pt.last_block_len.end(), h + l.last_len);
  std::vector<int32_t> rows;
  shape->num_tokens = plan.num_tokens();
  shape->num_seqs = plan.num_seqs();
  shape->max_q_len = 0;
  shape->max_kv_len = 0;
  shape->lora = false;
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    const StepSequence& seq = plan.seqs[s];
    const int32_t begin = plan.qo_indptr[s], end = plan.qo_indptr[s + 1];
    h[l.num_cached + s] = static_cast<int32_t>(seq.num_cached_tokens);
    std::fill(h + l.row_slot + begin, h + l.row_slot + end, seq.adapter_slot);
    if (seq.adapter_slot >= 0 && end > begin) shape->lora = true;
    shape->max_q_len = std::max(shape->max_q_len, end - begin);
    shape->max_kv_len = std::max(shape->max_kv_len, seq.num_cached_tokens + (end - begin));
    for (int32_t t = begin; t < end; ++t) {
      const int64_t pos = seq.num_cached_tokens + (t - begin);
      h[l.positions + t] = static_cast<int32_t>(pos);
      h[l.slots + t] =
          pt.block_of(s, pos, block_size_) * block_size_ + static_cast<int32_t>(pos % block_size_);
      const bool last = t + 1 == end;
      const bool target = !seq.prompt_targets.empty() && seq.prompt_targets[t - begin] >= 0;
      if (target || (last && (seq.sample || seq.return_last_logits))) rows.push_back(t);
    }
  }
  std::copy(rows.begin(), rows.end(), h + l.rows);
  return rows;
}

absl::StatusOr<StepResult> CudaEngine::Step(const StepPlan& plan) {
  if (sleep_level_ != SleepLevel::kAwake) {
    return absl::FailedPreconditionError("the engine is asleep: wake it before stepping");
  }
  TESSERA_RETURN_IF_ERROR(CheckPlan(plan));
  StepResult result;
  result.seqs.resize(plan.num_seqs());
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    if (!plan.seqs[s].prompt_targets.empty()) {
      result.seqs[s].prompt_logprobs.resize(plan.num_fed(s));
    }
  }
  // A step of block copies alone still runs (eagerly).
  if (plan.num_tokens() == 0 && plan.block_copies.empty()) return result;
  TESSERA_RETURN_IF_ERROR(WaitForAdapters(plan));
  if (UseDecodeGraph(plan)) {
    TESSERA_RETURN_IF_ERROR(StepDecodeGraph(plan, &result));
  } else {
    TESSERA_RETURN_IF_ERROR(StepEager(plan, &result));
  }
  return result;
}

absl::Status CudaEngine::StepEager(const StepPlan& plan, StepResult* result) {
  int64_t adapter_rows = 0, adapter_runs = 0;
  const std::vector<LoraRun> runs = LoraRunsOf(plan, &adapter_rows, &adapter_runs);
  const bool sgmv = adapter_runs > 0 && adapter_rows >= kSgmvMinRowsPerSegment * adapter_runs;
  const int64_t num_segments = sgmv ? static_cast<int64_t>(runs.size()) : 0;
  const IntsLayout l = IntsLayout::For(
      plan.num_tokens(), plan.num_seqs(), static_cast<int64_t>(plan.page_table.indices.size()),
      static_cast<int64_t>(plan.block_copies.size()), num_segments);
  TESSERA_RETURN_IF_ERROR(ws_->ReserveInts(l.total));
  DeviceStep shape;
  const std::vector<int32_t> rows = FillInts(plan, l, ws_->host_ints, &shape);
  WriteBlockCopies(plan, ws_->host_ints + l.block_copies);
  // SGMV segments cover every row; base-model runs name the pool's always-empty slot (rank 0
  // everywhere), so the kernel leaves them alone.
  int32_t max_segment_rows = 0;
  for (int64_t i = 0; i < num_segments; ++i) {
    const int32_t end = i + 1 < num_segments ? runs[i + 1].start : plan.num_tokens();
    ws_->host_ints[l.seg_starts + i] = runs[i].start;
    ws_->host_ints[l.seg_slots + i] = runs[i].slot >= 0 ? runs[i].slot : options_.max_loras;
    max_segment_rows = std::max(max_segment_rows, end - runs[i].start);
  }
  if (num_segments > 0) ws_->host_ints[l.seg_starts + num_segments] = plan.num_tokens();
  TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ws_->ints.data(), ws_->host_ints,
                                               l.total * sizeof(int32_t), cudaMemcpyHostToDevice,
                                               stream_));
  DeviceStep d = l.On(ws_->ints.data());
  d.num_tokens = shape.num_tokens;
  d.num_seqs = shape.num_seqs;
  d.max_q_len = shape.max_q_len;
  d.max_kv_len = shape.max_kv_len;
  d.lora = shape.lora;
  d.sgmv = sgmv;
  d.num_segments = static_cast<int32_t>(num_segments);
  d.max_segment_rows = max_segment_rows;
  TESSERA_RETURN_IF_ERROR(EnqueueBlockCopies(plan, ws_->ints.data() + l.block_copies));
  // Synchronize before returning: the next step rewrites the pinned mirror being uploaded.
  if (d.num_tokens == 0) return Synchronize();
  TESSERA_RETURN_IF_ERROR(EnqueueForward(d));
  if (rows.empty()) return Synchronize();
  const std::vector<RowInfo> info = RowsOf(plan, rows);
  const int32_t pass_rows = std::min(options_.max_num_tokens, kLogitRowsPerPass);
  for (int32_t begin = 0; begin < static_cast<int32_t>(rows.size()); begin += pass_rows) {
    const int32_t count = std::min<int32_t>(pass_rows, static_cast<int32_t>(rows.size()) - begin);
    TESSERA_RETURN_IF_ERROR(BuildRequests(plan, info, begin, count));
    TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ws_->requests, ws_->host_requests,
                                                 count * sizeof(GpuSampleRequest),
                                                 cudaMemcpyHostToDevice, stream_));
    TESSERA_RETURN_IF_ERROR(EnqueueLogits(d.rows + begin, count));
    TESSERA_RETURN_IF_ERROR(FetchOutputs(plan, info, begin, count, result));
  }
  return absl::OkStatus();
}

bool CudaEngine::UseDecodeGraph(const StepPlan& plan) const {
  if (!options_.cuda_graphs || plan.num_tokens() == 0 || plan.num_tokens() != plan.num_seqs()) {
    return false;
  }
  const int32_t batch = DecodeGraphCache::BatchBucket(plan.num_seqs());
  if (batch > GraphBatchCapacity()) return false;
  if (static_cast<int64_t>(plan.page_table.indices.size()) + batch > GraphBlockCapacity()) {
    return false;
  }
  for (const StepSequence& seq : plan.seqs) {
    if (!seq.prompt_targets.empty() || seq.return_last_logits) return false;
  }
  return true;
}

int32_t CudaEngine::GraphBatchCapacity() const {
  return std::min({options_.max_num_tokens, kLogitRowsPerPass,
                   DecodeGraphCache::BatchBucket(options_.max_num_seqs)});
}

int64_t CudaEngine::GraphBlockCapacity() const {
  const int64_t per_seq = (config_.max_position_embeddings + block_size_ - 1) / block_size_ + 1;
  return std::min<int64_t>(int64_t{GraphBatchCapacity()} * per_seq, plan_.num_kv_blocks) +
         GraphBatchCapacity();
}

absl::Status CudaEngine::StepDecodeGraph(const StepPlan& plan, StepResult* result) {
  const int32_t cap = GraphBatchCapacity();
  const IntsLayout l = IntsLayout::For(cap, cap, GraphBlockCapacity());
  if (graph_ints_.size() == 0) {
    TESSERA_RETURN_IF_ERROR(graph_ints_.Allocate(l.total));
    TESSERA_CUDA_RETURN_IF_ERROR(
        cudaMallocHost(reinterpret_cast<void**>(&graph_host_ints_), l.total * sizeof(int32_t)));
  }
  int32_t* h = graph_host_ints_;
  DeviceStep shape;
  const std::vector<int32_t> rows = FillInts(plan, l, h, &shape);
  // Padding sequences up to the bucket: one token at position 0 of a real block, written nowhere
  // (slot -1); their rows are computed and ignored, each row being independent of the others.
  const int32_t n = plan.num_seqs();
  const int32_t batch = DecodeGraphCache::BatchBucket(n);
  int32_t blocks = static_cast<int32_t>(plan.page_table.indices.size());
  for (int32_t i = n; i < batch; ++i) {
    h[l.token_ids + i] = 0;
    h[l.positions + i] = 0;
    h[l.slots + i] = -1;
    h[l.row_slot + i] = -1;
    h[l.qo_indptr + i + 1] = i + 1;
    h[l.kv_indices + blocks] = 0;
    h[l.kv_indptr + i + 1] = ++blocks;
    h[l.last_len + i] = 1;
    h[l.num_cached + i] = 0;
  }
  for (int32_t i = 0; i < batch; ++i) h[l.rows + i] = i;
  const std::vector<RowInfo> info = RowsOf(plan, rows);
  TESSERA_RETURN_IF_ERROR(BuildRequests(plan, info, 0, static_cast<int32_t>(rows.size())));
  // Real sequences each own row i; the request list is laid out by row.
  std::vector<GpuSampleRequest> by_row(batch);
  for (size_t r = 0; r < rows.size(); ++r) by_row[rows[r]] = ws_->host_requests[r];
  std::copy(by_row.begin(), by_row.end(), ws_->host_requests);

  TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(graph_ints_.data(), h, l.total * sizeof(int32_t),
                                               cudaMemcpyHostToDevice, stream_));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ws_->requests, ws_->host_requests,
                                               batch * sizeof(GpuSampleRequest),
                                               cudaMemcpyHostToDevice, stream_));
  DeviceStep d = l.On(graph_ints_.data());
  d.num_tokens = batch;
  d.num_seqs = batch;
  d.max_q_len = 1;
  d.max_kv_len = DecodeGraphCache::ContextBucket(shape.max_kv_len, config_.max_position_embeddings);
  d.lora = shape.lora;  // graphs run BGMV: it reads every row's slot from the fixed arrays
  // The captured graphs hold no block copies: a forking step's copies run eagerly, ordered before
  // the replay's KV writes by the stream.
  TESSERA_RETURN_IF_ERROR(EnqueueBlockCopies(plan, nullptr));
  TESSERA_RETURN_IF_ERROR(
      graphs_->Launch(batch, d.max_kv_len, d.lora ? 1 : 0, stream_, [&]() -> absl::Status {
        TESSERA_RETURN_IF_ERROR(EnqueueForward(d));
        return EnqueueLogits(d.rows, batch);
      }));
  // Results come back by row; put them in the order of `rows` for FetchOutputs.
  TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ws_->host_results, ws_->results,
                                               batch * sizeof(GpuSampleResult),
                                               cudaMemcpyDeviceToHost, stream_));
  TESSERA_RETURN_IF_ERROR(
      EnqueueHostSampledRows(plan, info, 0, static_cast<int32_t>(rows.size()), rows.data()));
  TESSERA_RETURN_IF_ERROR(Synchronize());
  std::vector<GpuSampleResult> in_order(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) in_order[r] = ws_->host_results[rows[r]];
  std::copy(in_order.begin(), in_order.end(), ws_->host_results);
  for (size_t r = 0; r < rows.size(); ++r) ws_->host_requests[r] = by_row[rows[r]];
  FillOutputs(plan, info, 0, static_cast<int32_t>(rows.size()), result);
  SampleHostRows(plan, info, 0, static_cast<int32_t>(rows.size()), result);
  return absl::OkStatus();
}

absl::Status CudaEngine::EnqueueBlockCopies(const StepPlan& plan, const int32_t* d_pairs) {
  const int64_t n = static_cast<int64_t>(plan.block_copies.size());
  if (n == 0) return absl::OkStatus();
  if (d_pairs == nullptr) {
    TESSERA_RETURN_IF_ERROR(ws_->ReserveInts(2 * n));
    WriteBlockCopies(plan, ws_->host_ints);
    TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ws_->ints.data(), ws_->host_ints,
                                                 2 * n * sizeof(int32_t), cudaMemcpyHostToDevice,
                                                 stream_));
    d_pairs = ws_->ints.data();
  }
  CopyKvBlocksArgs copy;
  copy.kv_cache = kv_.data();
  copy.pairs = d_pairs;
  copy.num_pairs = static_cast<int32_t>(n);
  copy.num_layers = static_cast<int32_t>(config_.num_hidden_layers);
  copy.num_blocks = plan_.num_kv_blocks;
  copy.block_elems = 2 * int64_t{block_size_} * config_.kv_size();
  return LaunchCopyKvBlocks(copy, stream_);
}

absl::Status CudaEngine::EnqueueForward(const DeviceStep& d) {
  constexpr int kQ = static_cast<int>(LoraModule::kQ), kK = static_cast<int>(LoraModule::kK),
                kV = static_cast<int>(LoraModule::kV), kO = static_cast<int>(LoraModule::kO),
                kGate = static_cast<int>(LoraModule::kGate),
                kUp = static_cast<int>(LoraModule::kUp),
                kDown = static_cast<int>(LoraModule::kDown);
  Workspace& w = *ws_;
  const int32_t n = d.num_tokens;
  const int32_t hidden = static_cast<int32_t>(config_.hidden_size);
  const int32_t im = static_cast<int32_t>(config_.intermediate_size);
  const int64_t qkv_rows = config_.q_size() + 2 * config_.kv_size();
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const int64_t layer_elems = kv_.size() / config_.num_hidden_layers;

  TESSERA_RETURN_IF_ERROR(
      LaunchEmbedding(weights_.embedding(), d.token_ids, n, hidden, w.x, stream_));
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const CudaLayerWeights& lw = weights_.layers()[l];
    // The previous layer's MLP output joins the residual here, fused with this layer's norm.
    TESSERA_RETURN_IF_ERROR(LaunchAddRmsNorm(w.x, l == 0 ? nullptr : w.delta, nullptr, n, hidden,
                                             lw.input_norm, eps, w.normed, stream_));
    TESSERA_RETURN_IF_ERROR(
        Gemm(*cublas_, w.normed, n, lw.qkv, qkv_rows, hidden, w.qkv, GemmOutput::kBf16));
    TESSERA_RETURN_IF_ERROR(
        EnqueueLora(d, static_cast<int32_t>(l), {kQ, kK, kV}, w.normed, hidden, w.qkv, qkv_rows));
    __nv_bfloat16* kv_layer = kv_.data() + l * layer_elems;
    RopeKvWriteArgs rope;
    rope.qkv = w.qkv;
    rope.bias = lw.qkv_bias;
    rope.positions = d.positions;
    rope.slots = d.slots;
    rope.inv_freq = inv_freq_.data();
    rope.num_tokens = n;
    rope.num_heads = static_cast<int32_t>(config_.num_attention_heads);
    rope.num_kv_heads = static_cast<int32_t>(config_.num_key_value_heads);
    rope.head_dim = static_cast<int32_t>(config_.head_dim);
    rope.block_size = block_size_;
    rope.q_out = w.q;
    rope.kv_cache = kv_layer;
    TESSERA_RETURN_IF_ERROR(LaunchRopeKvWrite(rope, stream_));
    PagedAttentionArgs att;
    att.q = w.q;
    att.kv = kv_layer;
    att.out = w.attn;
    att.qo_indptr = d.qo_indptr;
    att.kv_indptr = d.kv_indptr;
    att.kv_indices = d.kv_indices;
    att.kv_last_block_len = d.last_len;
    att.num_cached = d.num_cached;
    att.num_seqs = d.num_seqs;
    att.num_tokens = n;
    att.num_heads = rope.num_heads;
    att.num_kv_heads = rope.num_kv_heads;
    att.head_dim = rope.head_dim;
    att.block_size = block_size_;
    att.sliding_window = config_.layer_sliding_window.empty()
                             ? 0
                             : static_cast<int32_t>(config_.layer_sliding_window[l]);
    att.max_q_len = d.max_q_len;
    att.max_kv_len = d.max_kv_len;
    TESSERA_RETURN_IF_ERROR(LaunchPagedAttention(att, w.attention, w.attention_bytes, stream_));
    if (lw.o_bias != nullptr) {
      TESSERA_RETURN_IF_ERROR(LaunchBroadcastRows(lw.o_bias, n, hidden, w.delta, stream_));
    }
    TESSERA_RETURN_IF_ERROR(Gemm(*cublas_, w.attn, n, lw.o, hidden, config_.q_size(), w.delta,
                                 GemmOutput::kBf16, lw.o_bias != nullptr ? 1.0f : 0.0f));
    TESSERA_RETURN_IF_ERROR(
        EnqueueLora(d, static_cast<int32_t>(l), {kO}, w.attn, config_.q_size(), w.delta, hidden));
    TESSERA_RETURN_IF_ERROR(LaunchAddRmsNorm(w.x, w.delta, nullptr, n, hidden,
                                             lw.post_attention_norm, eps, w.normed, stream_));
    if (lw.gate_up_bias != nullptr) {
      TESSERA_RETURN_IF_ERROR(LaunchBroadcastRows(lw.gate_up_bias, n, 2 * im, w.gate_up, stream_));
    }
    TESSERA_RETURN_IF_ERROR(Gemm(*cublas_, w.normed, n, lw.gate_up, 2 * int64_t{im}, hidden,
                                 w.gate_up, GemmOutput::kBf16,
                                 lw.gate_up_bias != nullptr ? 1.0f : 0.0f));
    TESSERA_RETURN_IF_ERROR(EnqueueLora(d, static_cast<int32_t>(l), {kGate, kUp}, w.normed, hidden,
                                        w.gate_up, 2 * int64_t{im}));
    TESSERA_RETURN_IF_ERROR(LaunchSiluMul(w.gate_up, n, im, w.act, stream_));
    if (lw.down_bias != nullptr) {
      TESSERA_RETURN_IF_ERROR(LaunchBroadcastRows(lw.down_bias, n, hidden, w.delta, stream_));
    }
    TESSERA_RETURN_IF_ERROR(Gemm(*cublas_, w.act, n, lw.down, hidden, im, w.delta,
                                 GemmOutput::kBf16, lw.down_bias != nullptr ? 1.0f : 0.0f));
    TESSERA_RETURN_IF_ERROR(
        EnqueueLora(d, static_cast<int32_t>(l), {kDown}, w.act, im, w.delta, hidden));
  }
  // The last MLP output joins the residual; the normalized output here is scratch (only the rows
  // that need logits are normalized again, by EnqueueLogits).
  return LaunchAddRmsNorm(w.x, w.delta, nullptr, n, hidden, weights_.final_norm(), eps, w.normed,
                          stream_);
}

absl::Status CudaEngine::EnqueueLora(const DeviceStep& d, int32_t layer,
                                     std::initializer_list<int> modules, const __nv_bfloat16* x,
                                     int64_t x_stride, __nv_bfloat16* y, int64_t y_stride) {
  if (!d.lora || lora_ == nullptr) return absl::OkStatus();
  LoraGroupArgs a;
  a.table = lora_->table();
  a.num_layers = static_cast<int32_t>(config_.num_hidden_layers);
  a.layer = layer;
  a.num_projections = static_cast<int32_t>(modules.size());
  int64_t offset = 0;
  int i = 0;
  for (int m : modules) {
    const auto module = static_cast<LoraModule>(m);
    a.proj[i].module = m;
    a.proj[i].out_features = static_cast<int32_t>(LoraModuleOutFeatures(config_, module));
    a.proj[i].out_offset = offset;
    offset += a.proj[i].out_features;
    if (i == 0) a.in_features = static_cast<int32_t>(LoraModuleInFeatures(config_, module));
    ++i;
  }
  a.x = x;
  a.x_stride = x_stride;
  a.y = y;
  a.y_stride = y_stride;
  a.num_rows = d.num_tokens;
  a.row_slot = d.row_slot;
  a.max_rank = lora_->max_rank();
  a.shrink = lora_->shrink();
  if (!d.sgmv) return LaunchLoraBgmv(a, stream_);
  LoraSegments seg;
  seg.starts = d.seg_starts;
  seg.slots = d.seg_slots;
  seg.num_segments = d.num_segments;
  seg.max_segment_rows = d.max_segment_rows;
  return LaunchLoraSgmv(a, seg, stream_);
}

absl::Status CudaEngine::EnqueueLogits(const int32_t* d_rows, int32_t count) {
  Workspace& w = *ws_;
  const int32_t hidden = static_cast<int32_t>(config_.hidden_size);
  const int32_t vocab = static_cast<int32_t>(config_.vocab_size);
  TESSERA_RETURN_IF_ERROR(
      LaunchAddRmsNorm(w.x, nullptr, d_rows, count, hidden, weights_.final_norm(),
                       static_cast<float>(config_.rms_norm_eps), w.selected, stream_));
  TESSERA_RETURN_IF_ERROR(Gemm(*cublas_, w.selected, count, weights_.lm_head(), vocab, hidden,
                               w.logits, GemmOutput::kF32));
  return LaunchGpuSampler(w.logits, count, vocab, w.requests, w.results, stream_);
}

std::vector<CudaEngine::RowInfo> CudaEngine::RowsOf(const StepPlan& plan,
                                                    const std::vector<int32_t>& rows) {
  std::vector<RowInfo> info(rows.size());
  for (size_t r = 0, s = 0; r < rows.size(); ++r) {
    while (plan.qo_indptr[s + 1] <= rows[r]) ++s;
    info[r] = {static_cast<int32_t>(s), rows[r] - plan.qo_indptr[s],
               rows[r] + 1 == plan.qo_indptr[s + 1]};
  }
  return info;
}

absl::Status CudaEngine::BuildRequests(const StepPlan& plan, const std::vector<RowInfo>& info,
                                       int32_t begin, int32_t count) {
  const int32_t vocab = static_cast<int32_t>(config_.vocab_size);
  for (int32_t r = 0; r < count; ++r) {
    const RowInfo& ri = info[begin + r];
    const StepSequence& seq = plan.seqs[ri.seq];
    GpuSampleRequest& q = ws_->host_requests[r];
    q = GpuSampleRequest{};
    // Rows sampled on the host ask the GPU sampler for prompt log-probabilities only.
    q.sample = ri.last && seq.sample && !HostSampledRows::Needed(seq, vocab) ? 1 : 0;
    q.temperature = seq.sampling.temperature;
    q.seed = seq.sampling.seed;
    q.sample_index = seq.sample_index;
    q.target = seq.prompt_targets.empty() ? -1 : seq.prompt_targets[ri.j];
    q.top_k = std::max(q.target >= 0 ? seq.prompt_top_k : 0,
                       q.sample != 0 ? seq.sampling.num_logprobs : 0);
    if (absl::Status s = ValidateGpuSampleRequest(q, vocab); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", ri.seq, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status CudaEngine::FetchOutputs(const StepPlan& plan, const std::vector<RowInfo>& info,
                                      int32_t begin, int32_t count, StepResult* result) {
  Workspace& w = *ws_;
  const int32_t vocab = static_cast<int32_t>(config_.vocab_size);
  TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
      w.host_results, w.results, count * sizeof(GpuSampleResult), cudaMemcpyDeviceToHost, stream_));
  for (int32_t r = 0; r < count; ++r) {
    const RowInfo& ri = info[begin + r];
    if (ri.last && plan.seqs[ri.seq].return_last_logits) {
      std::vector<float>& out = result->seqs[ri.seq].last_logits;
      out.resize(vocab);
      TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out.data(), w.logits + int64_t{r} * vocab,
                                                   vocab * sizeof(float), cudaMemcpyDeviceToHost,
                                                   stream_));
    }
  }
  TESSERA_RETURN_IF_ERROR(EnqueueHostSampledRows(plan, info, begin, count, nullptr));
  TESSERA_RETURN_IF_ERROR(Synchronize());
  FillOutputs(plan, info, begin, count, result);
  SampleHostRows(plan, info, begin, count, result);
  return absl::OkStatus();
}

absl::Status CudaEngine::EnqueueHostSampledRows(const StepPlan& plan,
                                                const std::vector<RowInfo>& info, int32_t begin,
                                                int32_t count, const int32_t* logit_rows) {
  const int64_t vocab = config_.vocab_size;
  auto needed = [&](const RowInfo& ri) {
    return ri.last && HostSampledRows::Needed(plan.seqs[ri.seq], vocab);
  };
  int32_t n = 0;
  for (int32_t r = 0; r < count; ++r) n += needed(info[begin + r]) ? 1 : 0;
  host_slots_.assign(count, -1);
  if (n == 0) return absl::OkStatus();
  TESSERA_RETURN_IF_ERROR(host_rows_.Reset(n, vocab));
  for (int32_t r = 0; r < count; ++r) {
    if (!needed(info[begin + r])) continue;
    const int64_t row = logit_rows != nullptr ? logit_rows[r] : r;
    TESSERA_RETURN_IF_ERROR(
        host_rows_.EnqueueCopy(ws_->logits + row * vocab, stream_, &host_slots_[r]));
  }
  return absl::OkStatus();
}

void CudaEngine::SampleHostRows(const StepPlan& plan, const std::vector<RowInfo>& info,
                                int32_t begin, int32_t count, StepResult* result) {
  for (int32_t r = 0; r < count; ++r) {
    if (host_slots_[r] < 0) continue;
    const RowInfo& ri = info[begin + r];
    host_rows_.Sample(host_slots_[r], plan.seqs[ri.seq], &result->seqs[ri.seq]);
  }
}

void CudaEngine::FillOutputs(const StepPlan& plan, const std::vector<RowInfo>& info, int32_t begin,
                             int32_t count, StepResult* result) const {
  for (int32_t r = 0; r < count; ++r) {
    const RowInfo& ri = info[begin + r];
    const StepSequence& seq = plan.seqs[ri.seq];
    const GpuSampleRequest& q = ws_->host_requests[r];
    const GpuSampleResult& g = ws_->host_results[r];
    SequenceOutput& out = result->seqs[ri.seq];
    if (g.non_finite != 0) out.logits_non_finite = true;
    auto entry = [&g](int32_t id, float logprob, int32_t k) {
      LogprobEntry e;
      e.chosen = {id, logprob};
      for (int32_t i = 0; i < std::min(k, g.num_top); ++i) {
        e.top.push_back({g.top_ids[i], g.top_logprobs[i]});
      }
      return e;
    };
    if (q.target >= 0) {
      out.prompt_logprobs[ri.j] = entry(q.target, g.target_logprob, seq.prompt_top_k);
    }
    if (q.sample != 0) {
      out.sampled_token = g.token;
      if (seq.sampling.num_logprobs > 0) {
        out.sample_logprobs = entry(g.token, g.token_logprob, seq.sampling.num_logprobs);
      }
    }
  }
}

}  // namespace tessera
