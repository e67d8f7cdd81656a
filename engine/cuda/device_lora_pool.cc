#include "engine/cuda/device_lora_pool.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/lora_args.h"
#include "engine/cuda/lora_scatter.cuh"
#include "engine/lora_layout.h"
#include "engine/memory_plan.h"
#include "engine/status_macros.h"

namespace tessera {
namespace {

constexpr int64_t kAlign = 256;
int64_t AlignBytes(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

int64_t NumDescs(const ModelConfig& c, int32_t num_slots) {
  return int64_t{num_slots} * c.num_hidden_layers * kNumLoraModules;
}

// One row to convert: `len` fp32 values read `stride` apart, written contiguously as bf16.
struct RowJob {
  const float* src;
  int64_t stride;
  int64_t len;
  int64_t image_offset;
};

// The memory plan (engine/memory_plan.h) sizes the tables without CUDA.
static_assert(sizeof(LoraModuleDesc) == kLoraModuleDescBytes);
static_assert(kMaxLoraGroup == kLoraShrinkGroup);

}  // namespace

int64_t DeviceLoraPool::DeviceBytes(const ModelConfig& config, int32_t num_slots, int32_t max_rank,
                                    int32_t max_rows) {
  return CudaLoraTableBytes(config, num_slots, max_rank, max_rows);
}

DeviceLoraPool::DeviceLoraPool(const ModelConfig& config, int32_t num_slots, int32_t max_rank,
                               KvPoolView kv)
    : config_(config),
      max_rank_(max_rank),
      kv_(kv),
      ready_(num_slots, nullptr),
      pending_(num_slots, false),
      weights_(num_slots) {}

DeviceLoraPool::~DeviceLoraPool() {
  if (copy_ != nullptr) cudaStreamSynchronize(copy_);
  for (cudaEvent_t e : ready_) {
    if (e != nullptr) cudaEventDestroy(e);
  }
  if (compute_mark_ != nullptr) cudaEventDestroy(compute_mark_);
  if (last_load_ != nullptr) cudaEventDestroy(last_load_);
  if (staging_ != nullptr) cudaFreeHost(staging_);
  if (copy_ != nullptr) cudaStreamDestroy(copy_);
}

absl::StatusOr<std::unique_ptr<DeviceLoraPool>> DeviceLoraPool::Create(const ModelConfig& config,
                                                                       int32_t num_slots,
                                                                       int32_t max_rank,
                                                                       int32_t max_rows,
                                                                       KvPoolView kv) {
  if (num_slots < 1 || max_rank < 1 || max_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat("LoRA pool: need slots (", num_slots,
                                                   "), max rank (", max_rank, ") and rows (",
                                                   max_rows, ") >= 1"));
  }
  if (kv.base == nullptr || kv.num_layers != config.num_hidden_layers || kv.chunk_elems <= 0) {
    return absl::InvalidArgumentError("LoRA pool: the KV pool view does not match the model");
  }
  std::unique_ptr<DeviceLoraPool> pool(new DeviceLoraPool(config, num_slots, max_rank, kv));
  TESSERA_RETURN_IF_ERROR(pool->Init(max_rows));
  return pool;
}

absl::Status DeviceLoraPool::Init(int32_t max_rows) {
  TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&compute_mark_, cudaEventDisableTiming));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&last_load_, cudaEventDisableTiming));
  for (cudaEvent_t& e : ready_) {
    TESSERA_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  const int64_t descs = NumDescs(config_, num_slots());
  TESSERA_RETURN_IF_ERROR(descs_.Allocate(descs));
  TESSERA_RETURN_IF_ERROR(row_pointers_.Allocate(descs * 2 * max_rank_));
  TESSERA_RETURN_IF_ERROR(shrink_.Allocate(int64_t{max_rows} * kMaxLoraGroup * max_rank_));
  // Every slot starts empty: rank 0 everywhere.
  TESSERA_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(descs_.data(), 0, descs_.bytes(), copy_));
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(row_pointers_.data(), 0, row_pointers_.bytes(), copy_));
  return CudaStatus(cudaStreamSynchronize(copy_), "cudaStreamSynchronize");
}

absl::StatusOr<int32_t> DeviceLoraPool::BlocksFor(const LoraWeights& weights) const {
  TESSERA_RETURN_IF_ERROR(weights.Validate(config_));
  absl::StatusOr<LoraLayout> layout = PlanLoraLayout(weights, kv_.chunk_elems, max_rank_);
  if (!layout.ok()) return layout.status();
  return layout->num_blocks;
}

absl::Status DeviceLoraPool::ReserveStaging(int64_t bytes) {
  if (bytes <= staging_bytes_) return absl::OkStatus();
  if (staging_ != nullptr) cudaFreeHost(staging_);
  staging_ = nullptr;
  staging_device_ = nullptr;
  staging_bytes_ = 0;
  const int64_t cap = std::max(bytes, int64_t{1} << 20);
  void* host = nullptr;
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaHostAlloc(&host, cap, cudaHostAllocMapped | cudaHostAllocPortable));
  staging_ = static_cast<char*>(host);
  void* device = nullptr;
  TESSERA_CUDA_RETURN_IF_ERROR(cudaHostGetDevicePointer(&device, host, 0));
  staging_device_ = static_cast<char*>(device);
  staging_bytes_ = cap;
  return absl::OkStatus();
}

absl::Status DeviceLoraPool::RecordLoad(int32_t slot) {
  TESSERA_CUDA_RETURN_IF_ERROR(cudaEventRecord(ready_[slot], copy_));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaEventRecord(last_load_, copy_));
  pending_[slot] = true;
  any_load_ = true;
  return absl::OkStatus();
}

absl::Status DeviceLoraPool::Set(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                                 absl::Span<const int32_t> blocks, cudaStream_t compute) {
  if (slot < 0 || slot >= num_slots()) {
    return absl::InvalidArgumentError(
        absl::StrCat("adapter slot ", slot, " outside [0, ", num_slots(), ")"));
  }
  // A load of this slot still queued writes blocks the scheduler may now give to the KV cache.
  if (pending_[slot]) {
    const cudaError_t done = cudaEventQuery(ready_[slot]);
    if (done == cudaErrorNotReady) {
      hazard_ = true;
    } else if (done != cudaSuccess) {
      return CudaStatus(done, "cudaEventQuery");
    }
  }
  if (weights == nullptr) return EmptySlot(slot, blocks);
  absl::StatusOr<LoraLayout> layout = LayoutFor(slot, *weights, blocks);
  if (!layout.ok()) return layout.status();
  absl::StatusOr<StagedLoad> staged = Convert(slot, *weights, *layout, blocks);
  if (!staged.ok()) return staged.status();
  weights_[slot] = std::move(weights);
  return Enqueue(slot, *staged, compute);
}

absl::Status DeviceLoraPool::EmptySlot(int32_t slot, absl::Span<const int32_t> blocks) {
  if (!blocks.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("emptying adapter slot ", slot, ": ", blocks.size(), " KV blocks given"));
  }
  weights_[slot] = nullptr;
  const int64_t slot_descs = config_.num_hidden_layers * int64_t{kNumLoraModules};
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(descs_.data() + slot * slot_descs, 0,
                      slot_descs * static_cast<int64_t>(sizeof(LoraModuleDesc)), copy_));
  return RecordLoad(slot);
}

absl::StatusOr<LoraLayout> DeviceLoraPool::LayoutFor(int32_t slot, const LoraWeights& weights,
                                                     absl::Span<const int32_t> blocks) const {
  TESSERA_RETURN_IF_ERROR(weights.Validate(config_));
  absl::StatusOr<LoraLayout> layout = PlanLoraLayout(weights, kv_.chunk_elems, max_rank_);
  if (!layout.ok()) return layout.status();
  if (static_cast<int32_t>(blocks.size()) != layout->num_blocks) {
    return absl::InvalidArgumentError(absl::StrCat("adapter slot ", slot, ": ", blocks.size(),
                                                   " KV blocks given, the adapter needs ",
                                                   layout->num_blocks));
  }
  for (int32_t b : blocks) {
    if (b < 0 || b >= kv_.num_blocks) {
      return absl::InvalidArgumentError(absl::StrCat("adapter slot ", slot, ": KV block ", b,
                                                     " outside [0, ", kv_.num_blocks, ")"));
    }
  }
  return layout;
}

absl::StatusOr<DeviceLoraPool::StagedLoad> DeviceLoraPool::Convert(
    int32_t slot, const LoraWeights& weights, const LoraLayout& layout,
    absl::Span<const int32_t> blocks) {
  const int32_t layers = static_cast<int32_t>(config_.num_hidden_layers);
  const int64_t slot_descs = int64_t{layers} * kNumLoraModules;
  // Staging: the bf16 image (chunk by chunk), then the copy list, the descriptors and the row
  // pointers of the slot.
  const int64_t nb = layout.num_blocks;
  std::vector<int64_t> chunk_start(layout.used.size() + 1, 0);
  StagedLoad st;
  for (size_t i = 0; i < layout.used.size(); ++i) {
    chunk_start[i + 1] = chunk_start[i] + layout.used[i];
    if (layout.used[i] > 0) ++st.num_copies;
  }
  st.image_bytes = AlignBytes(layout.total_used * 2);
  const int64_t copies_bytes = AlignBytes(int64_t{st.num_copies} * sizeof(LoraCopy));
  st.descs_bytes = slot_descs * int64_t{sizeof(LoraModuleDesc)};
  st.rows_bytes = slot_descs * 2 * max_rank_ * int64_t{sizeof(void*)};
  // The previous load may still read the staging buffer (which ReserveStaging may also free).
  if (any_load_) {
    TESSERA_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(last_load_));
  }
  TESSERA_RETURN_IF_ERROR(
      ReserveStaging(st.image_bytes + copies_bytes + AlignBytes(st.descs_bytes) + st.rows_bytes));
  auto* image = reinterpret_cast<__nv_bfloat16*>(staging_);
  auto* copies = reinterpret_cast<LoraCopy*>(staging_ + st.image_bytes);
  st.descs = reinterpret_cast<LoraModuleDesc*>(staging_ + st.image_bytes + copies_bytes);
  st.rows = reinterpret_cast<const __nv_bfloat16**>(staging_ + st.image_bytes + copies_bytes +
                                                    AlignBytes(st.descs_bytes));
  std::memset(static_cast<void*>(st.descs), 0, st.descs_bytes);
  std::memset(static_cast<void*>(st.rows), 0, st.rows_bytes);

  const int64_t layer_elems = int64_t{kv_.num_blocks} * kv_.chunk_elems;
  std::vector<RowJob> jobs;
  jobs.reserve(layout.rows.size());
  size_t next = 0;
  for (int32_t l = 0; l < layers; ++l) {
    for (int m = 0; m < kNumLoraModules; ++m) {
      const LoraPair& p = weights.layers[l][m];
      if (p.rank == 0) continue;
      const int64_t d = int64_t{l} * kNumLoraModules + m;
      st.descs[d].rank = p.rank;
      st.descs[d].scale = p.scale;
      const __nv_bfloat16* const* a_rows =
          row_pointers_.data() + (slot * slot_descs + d) * 2 * max_rank_;
      st.descs[d].a_rows = a_rows;
      st.descs[d].b_rows = a_rows + max_rank_;
      for (int32_t half = 0; half < 2; ++half) {
        for (int32_t r = 0; r < p.rank; ++r) {
          const LoraRowPlace& place = layout.rows[next++];
          const int64_t chunk = l * nb + place.block;
          st.rows[d * 2 * max_rank_ + half * max_rank_ + r] =
              kv_.base + l * layer_elems + int64_t{blocks[place.block]} * kv_.chunk_elems +
              place.offset;
          const int64_t at = chunk_start[chunk] + place.offset;
          if (half == 0) {
            jobs.push_back({p.a.data() + r * p.in_features, 1, p.in_features, at});
          } else {
            jobs.push_back({p.b.data() + r, p.rank, p.out_features, at});
          }
        }
      }
    }
  }
  // fp32 -> bf16, the host's share of a load: spread over the cores (an 8B-shape rank-16 adapter
  // is about 42M values).
  const int64_t num_jobs = static_cast<int64_t>(jobs.size());
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t j = 0; j < num_jobs; ++j) {
    const RowJob& job = jobs[j];
    __nv_bfloat16* out = image + job.image_offset;
    for (int64_t i = 0; i < job.len; ++i) out[i] = __float2bfloat16(job.src[i * job.stride]);
  }
  int32_t c = 0;
  for (int32_t l = 0; l < layers; ++l) {
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t chunk = l * nb + b;
      if (layout.used[chunk] == 0) continue;
      copies[c++] = {chunk_start[chunk], layout.used[chunk],
                     kv_.base + l * layer_elems + int64_t{blocks[b]} * kv_.chunk_elems};
    }
  }
  return st;
}

absl::Status DeviceLoraPool::Enqueue(int32_t slot, const StagedLoad& st, cudaStream_t compute) {
  const int64_t slot_descs = config_.num_hidden_layers * int64_t{kNumLoraModules};
  LoraModuleDesc* slot_table = descs_.data() + slot * slot_descs;
  const __nv_bfloat16** slot_rows = row_pointers_.data() + slot * slot_descs * 2 * max_rank_;
  TESSERA_CUDA_RETURN_IF_ERROR(cudaEventRecord(compute_mark_, compute));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(copy_, compute_mark_, 0));
  TESSERA_RETURN_IF_ERROR(LaunchLoraScatter(
      reinterpret_cast<const __nv_bfloat16*>(staging_device_),
      reinterpret_cast<const LoraCopy*>(staging_device_ + st.image_bytes), st.num_copies, copy_));
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(slot_rows, st.rows, st.rows_bytes, cudaMemcpyHostToDevice, copy_));
  TESSERA_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(slot_table, st.descs, st.descs_bytes, cudaMemcpyHostToDevice, copy_));
  return RecordLoad(slot);
}

absl::Status DeviceLoraPool::BeforeStep(absl::Span<const int32_t> used_slots,
                                        cudaStream_t compute) {
  if (hazard_) {
    TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(compute, last_load_, 0));
    hazard_ = false;
    std::fill(pending_.begin(), pending_.end(), false);
    return absl::OkStatus();
  }
  for (int32_t slot : used_slots) {
    if (slot < 0 || slot >= num_slots() || !pending_[slot]) continue;
    TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(compute, ready_[slot], 0));
    pending_[slot] = false;
  }
  return absl::OkStatus();
}

}  // namespace tessera
