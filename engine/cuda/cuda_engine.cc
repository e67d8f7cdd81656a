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
#include "engine/cuda/cuda_quant_linears.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/cuda_step_upload.h"
#include "engine/cuda/cuda_workspace.h"
#include "engine/cuda/decode_graphs.h"
#include "engine/cuda/device_info.h"
#include "engine/cuda/embedding.cuh"
#include "engine/cuda/gpu_sampler.cuh"
#include "engine/cuda/lora_args.h"
#include "engine/cuda/lora_args_check.h"
#include "engine/cuda/lora_bgmv.cuh"
#include "engine/cuda/lora_sgmv.cuh"
#include "engine/cuda/paged_attention.cuh"
#include "engine/cuda/quant_gemm.h"
#include "engine/cuda/quant_weight_view.h"
#include "engine/cuda/rope_kv_write.cuh"
#include "engine/cuda/silu_mul.cuh"
#include "engine/status_macros.h"

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

}  // namespace

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
  m.quantized = quant_ != nullptr;
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
  ws_ = std::make_unique<CudaWorkspace>();
  TESSERA_RETURN_IF_ERROR(ws_->Init(config_, mo));
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
                                                             const CudaEngineOptions& options,
                                                             PhaseTimer* phases) {
  PhaseTimer unused;
  PhaseTimer& timer = phases != nullptr ? *phases : unused;
  absl::StatusOr<ModelConfig> config = LoadModelConfig(model_dir);
  if (!config.ok()) return config.status();
  TESSERA_RETURN_IF_ERROR(ApplyMaxModelLen(options.max_model_len, &*config));
  TESSERA_RETURN_IF_ERROR(CheckOptions(*config, options));
  absl::StatusOr<std::unique_ptr<Checkpoint>> checkpoint = Checkpoint::Open(model_dir);
  if (!checkpoint.ok()) return checkpoint.status();
  timer.Mark(kPhaseModelOpen);
  (*checkpoint)->Prefetch(options.weight_load_threads);
  std::unique_ptr<CudaEngine> e(new CudaEngine(*std::move(config), options));
  TESSERA_RETURN_IF_ERROR(e->InitStream());
  timer.Mark(kPhaseDeviceInit);
  const bool quantized = CudaQuantLinears::Wanted(e->config_, options.quantization);
  absl::StatusOr<CudaWeights> weights =
      CudaWeights::Upload(e->config_, **checkpoint, e->stream_, options.weight_load_threads,
                          &e->load_stats_, quantized);
  if (!weights.ok()) return weights.status();
  e->weights_ = *std::move(weights);
  int64_t weight_bytes = e->weights_.bytes();
  if (quantized) {
    absl::StatusOr<CudaQuantLinears> linears = CudaQuantLinears::Load(
        e->config_, **checkpoint, options.quantization, e->stream_, &e->weight_tally_);
    if (!linears.ok()) return linears.status();
    e->AttachQuantizedLinears(std::make_unique<CudaQuantLinears>(*std::move(linears)));
    weight_bytes += e->quant_->bytes();
  }
  timer.Mark(kPhaseWeights);
  TESSERA_RETURN_IF_ERROR(e->InitBuffers(weight_bytes));
  timer.Mark(kPhaseKvAlloc);
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
  const std::optional<PackedKind> kind = PackedKindOf(options.quantization.method);
  absl::StatusOr<CudaWeights> weights =
      CudaWeights::Random(e->config_, seed, 0.05f, e->stream_, kind.has_value());
  if (!weights.ok()) return weights.status();
  e->weights_ = *std::move(weights);
  int64_t weight_bytes = e->weights_.bytes();
  if (kind.has_value()) {
    absl::StatusOr<CudaQuantLinears> linears =
        CudaQuantLinears::Random(e->config_, *kind, 0.05f, seed, e->stream_);
    if (!linears.ok()) return linears.status();
    e->AttachQuantizedLinears(std::make_unique<CudaQuantLinears>(*std::move(linears)));
    weight_bytes += e->quant_->bytes();
  }
  TESSERA_RETURN_IF_ERROR(e->InitBuffers(weight_bytes));
  return e;
}

void CudaEngine::AttachQuantizedLinears(std::unique_ptr<CudaQuantLinears> linears) {
  quant_ = std::move(linears);
  std::vector<std::array<const QuantWeightView*, 4>> views;
  for (const CudaQuantLayer& l : quant_->layers()) {
    views.push_back({&l.qkv.view(), &l.o.view(), &l.gate_up.view(), &l.down.view()});
  }
  weights_.SetQuantizedLinears(views);
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
  const CudaStepInts l = CudaStepInts::For(
      plan.num_tokens(), plan.num_seqs(), static_cast<int64_t>(plan.page_table.indices.size()),
      static_cast<int64_t>(plan.block_copies.size()), num_segments);
  TESSERA_RETURN_IF_ERROR(ws_->ReserveInts(l.total));
  CudaDeviceStep shape;
  const std::vector<int32_t> rows = FillStepInts(plan, l, block_size_, ws_->host_ints, &shape);
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
  CudaDeviceStep d = l.On(ws_->ints.data());
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
  const CudaStepInts l = CudaStepInts::For(cap, cap, GraphBlockCapacity());
  if (graph_ints_.size() == 0) {
    TESSERA_RETURN_IF_ERROR(graph_ints_.Allocate(l.total));
    TESSERA_CUDA_RETURN_IF_ERROR(
        cudaMallocHost(reinterpret_cast<void**>(&graph_host_ints_), l.total * sizeof(int32_t)));
  }
  int32_t* h = graph_host_ints_;
  CudaDeviceStep shape;
  const std::vector<int32_t> rows = FillStepInts(plan, l, block_size_, h, &shape);
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
  CudaDeviceStep d = l.On(graph_ints_.data());
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

absl::Status CudaEngine::EnqueueForward(const CudaDeviceStep& d) {
  constexpr int kQ = static_cast<int>(LoraModule::kQ), kK = static_cast<int>(LoraModule::kK),
                kV = static_cast<int>(LoraModule::kV), kO = static_cast<int>(LoraModule::kO),
                kGate = static_cast<int>(LoraModule::kGate),
                kUp = static_cast<int>(LoraModule::kUp),
                kDown = static_cast<int>(LoraModule::kDown);
  CudaWorkspace& w = *ws_;
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
    TESSERA_RETURN_IF_ERROR(Linear(w.normed, n, lw.qkv, lw.qkv_q, qkv_rows, hidden, w.qkv, 0.0f));
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
    TESSERA_RETURN_IF_ERROR(Linear(w.attn, n, lw.o, lw.o_q, hidden, config_.q_size(), w.delta,
                                   lw.o_bias != nullptr ? 1.0f : 0.0f));
    TESSERA_RETURN_IF_ERROR(
        EnqueueLora(d, static_cast<int32_t>(l), {kO}, w.attn, config_.q_size(), w.delta, hidden));
    TESSERA_RETURN_IF_ERROR(LaunchAddRmsNorm(w.x, w.delta, nullptr, n, hidden,
                                             lw.post_attention_norm, eps, w.normed, stream_));
    if (lw.gate_up_bias != nullptr) {
      TESSERA_RETURN_IF_ERROR(LaunchBroadcastRows(lw.gate_up_bias, n, 2 * im, w.gate_up, stream_));
    }
    TESSERA_RETURN_IF_ERROR(Linear(w.normed, n, lw.gate_up, lw.gate_up_q, 2 * int64_t{im}, hidden,
                                   w.gate_up, lw.gate_up_bias != nullptr ? 1.0f : 0.0f));
    TESSERA_RETURN_IF_ERROR(EnqueueLora(d, static_cast<int32_t>(l), {kGate, kUp}, w.normed, hidden,
                                        w.gate_up, 2 * int64_t{im}));
    TESSERA_RETURN_IF_ERROR(LaunchSiluMul(w.gate_up, n, im, w.act, stream_));
    if (lw.down_bias != nullptr) {
      TESSERA_RETURN_IF_ERROR(LaunchBroadcastRows(lw.down_bias, n, hidden, w.delta, stream_));
    }
    TESSERA_RETURN_IF_ERROR(Linear(w.act, n, lw.down, lw.down_q, hidden, im, w.delta,
                                   lw.down_bias != nullptr ? 1.0f : 0.0f));
    TESSERA_RETURN_IF_ERROR(
        EnqueueLora(d, static_cast<int32_t>(l), {kDown}, w.act, im, w.delta, hidden));
  }
  // The last MLP output joins the residual; the normalized output here is scratch (only the rows
  // that need logits are normalized again, by EnqueueLogits).
  return LaunchAddRmsNorm(w.x, w.delta, nullptr, n, hidden, weights_.final_norm(), eps, w.normed,
                          stream_);
}

absl::Status CudaEngine::Linear(const __nv_bfloat16* x, int32_t n, const __nv_bfloat16* w,
                                const QuantWeightView* q, int64_t out_features, int64_t in_features,
                                __nv_bfloat16* y, float beta) {
  if (q != nullptr) {
    return QuantGemm(*cublas_, x, n, *q, y, beta, ws_->dequant, ws_->dequant_elems);
  }
  return Gemm(*cublas_, x, n, w, out_features, in_features, y, GemmOutput::kBf16, beta);
}

absl::Status CudaEngine::EnqueueLora(const CudaDeviceStep& d, int32_t layer,
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

}  // namespace tessera
