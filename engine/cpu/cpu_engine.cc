#include "engine/cpu/cpu_engine.h"

#include <malloc.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/checkpoint.h"
#include "engine/context_limit.h"
#include "engine/cpu/linear.h"
#include "engine/cpu/lora.h"
#include "engine/cpu/paged_attention.h"
#include "engine/cpu/rms_norm.h"
#include "engine/cpu/swiglu.h"
#include "engine/sampler.h"

namespace tessera {
namespace {

// Far above any real deployment; bounds the slot table a bad flag could allocate.
constexpr int32_t kMaxLoraSlots = 1 << 16;

}  // namespace

absl::StatusOr<std::unique_ptr<CpuEngine>> CpuEngine::Load(const std::string& model_dir,
                                                           const CpuEngineOptions& options,
                                                           PhaseTimer* phases) {
  PhaseTimer unused;
  PhaseTimer& timer = phases != nullptr ? *phases : unused;
  absl::StatusOr<ModelConfig> config = LoadModelConfig(model_dir);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<Checkpoint>> checkpoint = Checkpoint::Open(model_dir);
  if (!checkpoint.ok()) return checkpoint.status();
  timer.Mark(kPhaseModelOpen);
  (*checkpoint)->Prefetch(options.weights.num_threads);
  absl::StatusOr<CpuWeights> weights =
      CpuWeights::FromCheckpoint(*config, **checkpoint, options.weights);
  if (!weights.ok()) return weights.status();
  timer.Mark(kPhaseWeights);
  const ModelConfig file_config = *config;
  absl::StatusOr<std::unique_ptr<CpuEngine>> engine =
      Create(*std::move(config), *std::move(weights), options);
  timer.Mark(kPhaseKvAlloc);
  if (!engine.ok()) return engine.status();
  // Wake reads the checkpoint again: the files may be rewritten while the engine sleeps, but
  // FromCheckpoint checks every tensor against the config, so a changed shape is an error.
  (*engine)->reload_ = [model_dir, file_config,
                        weight_options = options.weights]() -> absl::StatusOr<CpuWeights> {
    absl::StatusOr<std::unique_ptr<Checkpoint>> checkpoint = Checkpoint::Open(model_dir);
    if (!checkpoint.ok()) return checkpoint.status();
    return CpuWeights::FromCheckpoint(file_config, **checkpoint, weight_options);
  };
  return engine;
}

absl::StatusOr<std::unique_ptr<CpuEngine>> CpuEngine::Create(ModelConfig config, CpuWeights weights,
                                                             const CpuEngineOptions& options) {
  if (absl::Status s = ApplyMaxModelLen(options.max_model_len, &config); !s.ok()) return s;
  if (options.block_size < 1 || options.block_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV block size must be in [1, 1024], got ", options.block_size));
  }
  const int64_t per_block = CpuKvCache::BytesPerBlock(config.num_hidden_layers, options.block_size,
                                                      config.num_key_value_heads, config.head_dim);
  int64_t blocks =
      options.num_kv_blocks > 0 ? options.num_kv_blocks : options.kv_cache_bytes / per_block;
  if (blocks < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache of ", options.kv_cache_bytes, " bytes holds no block of ", per_block, " bytes"));
  }
  blocks = std::min<int64_t>(blocks, std::numeric_limits<int32_t>::max() / 2);
  if (options.max_loras < 0 || options.max_loras > kMaxLoraSlots) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_loras must be in [0, ", kMaxLoraSlots, "], got ", options.max_loras));
  }
  auto engine = std::unique_ptr<CpuEngine>(new CpuEngine(std::move(config), std::move(weights),
                                                         static_cast<int32_t>(blocks),
                                                         options.block_size, options.max_loras));
  engine->num_threads_ = options.num_threads;
  return engine;
}

CpuEngine::CpuEngine(ModelConfig config, CpuWeights weights, int32_t num_blocks, int32_t block_size,
                     int32_t max_loras)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      rope_(config_.head_dim, config_.rope_theta, config_.rope_scaling),
      kv_(config_.num_hidden_layers, num_blocks, block_size, config_.num_key_value_heads,
          config_.head_dim),
      adapters_(max_loras) {}

absl::Status CpuEngine::SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                                   absl::Span<const int32_t> kv_blocks) {
  if (slot < 0 || slot >= num_adapter_slots()) {
    return absl::InvalidArgumentError(
        absl::StrCat("adapter slot ", slot, " outside [0, ", num_adapter_slots(), ")"));
  }
  if (!kv_blocks.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("adapter slot ", slot, ": ", kv_blocks.size(),
                                                   " KV blocks given; the CPU engine needs none"));
  }
  if (weights != nullptr) {
    if (absl::Status s = weights->Validate(config_); !s.ok()) return s;
  }
  adapters_[slot] = std::move(weights);
  return absl::OkStatus();
}

absl::Status CpuEngine::Sleep(SleepLevel level) {
  if (level == SleepLevel::kAwake) {
    return absl::InvalidArgumentError("Sleep needs level 1 or 2");
  }
  if (sleep_level_ != SleepLevel::kAwake) {
    return absl::FailedPreconditionError("the engine is asleep already");
  }
  if (!reload_) {
    return absl::FailedPreconditionError(
        "this engine was built from weights in memory: it has no checkpoint to reload them from, "
        "so it cannot sleep");
  }
  weights_ = CpuWeights{};
  kv_.Release();
  for (std::shared_ptr<const LoraWeights>& a : adapters_) a.reset();
  sampler_scratch_ = SamplerScratch{};
  // glibc keeps freed heap memory for reuse (and big blocks freed once raise its mmap threshold,
  // so a reload comes from the heap): give the free pages back now, or the RSS would not drop.
  malloc_trim(0);
  sleep_level_ = level;
  return absl::OkStatus();
}

absl::Status CpuEngine::WakeUp() {
  if (sleep_level_ == SleepLevel::kAwake) {
    return absl::FailedPreconditionError("the engine is awake");
  }
  absl::StatusOr<CpuWeights> weights = reload_();
  if (!weights.ok()) {
    return absl::Status(weights.status().code(), absl::StrCat("waking the engine: reloading the "
                                                              "weights: ",
                                                              weights.status().message()));
  }
  weights_ = *std::move(weights);
  kv_.Allocate();
  sleep_level_ = SleepLevel::kAwake;
  return absl::OkStatus();
}

absl::Status CpuEngine::CheckAdapterSlots(const StepPlan& plan) const {
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    const int32_t slot = plan.seqs[s].adapter_slot;
    if (slot < 0) continue;  // StepPlan::Validate has refused anything below -1
    if (slot >= num_adapter_slots()) {
      return absl::InvalidArgumentError(absl::StrCat("step plan: sequence ", s, ": adapter slot ",
                                                     slot, " outside [0, ", num_adapter_slots(),
                                                     ")"));
    }
    if (adapters_[slot] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: sequence ", s, ": adapter slot ", slot, " is empty"));
    }
  }
  return absl::OkStatus();
}

std::vector<const LoraWeights*> CpuEngine::RowAdapters(const StepPlan& plan) const {
  std::vector<const LoraWeights*> rows;
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    const int32_t slot = plan.seqs[s].adapter_slot;
    if (slot < 0) continue;
    if (rows.empty()) rows.resize(plan.num_tokens());
    for (int32_t t = plan.qo_indptr[s]; t < plan.qo_indptr[s + 1]; ++t) {
      rows[t] = adapters_[slot].get();
    }
  }
  return rows;
}

void CpuEngine::AddLora(int64_t l, LoraModule m,
                        const std::vector<const LoraWeights*>& row_adapters, const float* x,
                        float* y) const {
  if (row_adapters.empty()) return;
  std::vector<const LoraPair*> pairs(row_adapters.size());
  bool any = false;
  for (size_t t = 0; t < pairs.size(); ++t) {
    pairs[t] = row_adapters[t] == nullptr ? nullptr : row_adapters[t]->Find(l, m);
    any = any || pairs[t] != nullptr;
  }
  if (!any) return;
  AddLoraDelta(x, LoraModuleInFeatures(config_, m), pairs, LoraModuleOutFeatures(config_, m), y);
}

void CpuEngine::Layer(int64_t l, const StepPlan& plan, const std::vector<int64_t>& num_cached,
                      const std::vector<int64_t>& positions,
                      const std::vector<const LoraWeights*>& row_adapters, std::vector<float>& x) {
  const ModelConfig& c = config_;
  const CpuLayerWeights& w = weights_.layers[l];
  const int64_t n = plan.num_tokens(), h = c.hidden_size, d = c.head_dim;
  const int32_t bs = kv_.block_size();

  std::vector<float> normed(n * h);
  RmsNorm(x.data(), w.input_norm.data(), n, h, static_cast<float>(c.rms_norm_eps), normed.data());
  std::vector<float> q(n * c.q_size()), k(n * c.kv_size()), v(n * c.kv_size());
  Linear(normed.data(), n, w.q, q.data());
  Linear(normed.data(), n, w.k, k.data());
  Linear(normed.data(), n, w.v, v.data());
  AddLora(l, LoraModule::kQ, row_adapters, normed.data(), q.data());
  AddLora(l, LoraModule::kK, row_adapters, normed.data(), k.data());
  AddLora(l, LoraModule::kV, row_adapters, normed.data(), v.data());

  // RoPE, then K and V into their cache slots (the cache holds rotated keys).
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    for (int32_t t = plan.qo_indptr[s]; t < plan.qo_indptr[s + 1]; ++t) {
      const int64_t pos = positions[t];
      rope_.Apply(&q[t * c.q_size()], c.num_attention_heads, pos);
      rope_.Apply(&k[t * c.kv_size()], c.num_key_value_heads, pos);
      const int32_t block = plan.page_table.block_of(s, pos, bs);
      std::memcpy(kv_.Slot(l, block, 0, pos % bs), &k[t * c.kv_size()],
                  c.kv_size() * sizeof(float));
      std::memcpy(kv_.Slot(l, block, 1, pos % bs), &v[t * c.kv_size()],
                  c.kv_size() * sizeof(float));
    }
  }

  std::vector<float> attn(n * c.q_size());
  const AttentionShape shape{c.num_attention_heads, c.num_key_value_heads, d,
                             c.layer_sliding_window.empty() ? 0 : c.layer_sliding_window[l]};
  PagedAttention(q.data(), plan.qo_indptr, num_cached, plan.page_table, kv_, l, shape, attn.data());
  std::vector<float> o(n * h);
  Linear(attn.data(), n, w.o, o.data());
  AddLora(l, LoraModule::kO, row_adapters, attn.data(), o.data());
  for (int64_t i = 0; i < n * h; ++i) x[i] += o[i];

  RmsNorm(x.data(), w.post_attention_norm.data(), n, h, static_cast<float>(c.rms_norm_eps),
          normed.data());
  std::vector<float> gate(n * c.intermediate_size), up(n * c.intermediate_size);
  Linear(normed.data(), n, w.gate, gate.data());
  Linear(normed.data(), n, w.up, up.data());
  AddLora(l, LoraModule::kGate, row_adapters, normed.data(), gate.data());
  AddLora(l, LoraModule::kUp, row_adapters, normed.data(), up.data());
  SiluMul(gate.data(), up.data(), n * c.intermediate_size, gate.data());
  Linear(gate.data(), n, w.down, o.data());
  AddLora(l, LoraModule::kDown, row_adapters, gate.data(), o.data());
  for (int64_t i = 0; i < n * h; ++i) x[i] += o[i];
}

std::vector<float> CpuEngine::Forward(const StepPlan& plan, const std::vector<int64_t>& positions) {
  const int64_t n = plan.num_tokens(), h = config_.hidden_size;
  std::vector<float> x(n * h);
  for (int64_t t = 0; t < n; ++t) {
    std::memcpy(&x[t * h], &weights_.embedding[plan.token_ids[t] * h], h * sizeof(float));
  }
  std::vector<int64_t> num_cached(plan.num_seqs());
  for (int32_t s = 0; s < plan.num_seqs(); ++s) num_cached[s] = plan.seqs[s].num_cached_tokens;
  const std::vector<const LoraWeights*> row_adapters = RowAdapters(plan);
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    Layer(l, plan, num_cached, positions, row_adapters, x);
  }
  return x;
}

absl::StatusOr<StepResult> CpuEngine::Step(const StepPlan& plan) {
  // OpenMP's thread count is per calling thread: set it on the thread that steps (the daemon's
  // scheduler thread is not the one that created the engine).
  if (num_threads_ > 0 && omp_get_max_threads() != num_threads_) omp_set_num_threads(num_threads_);
  if (sleep_level_ != SleepLevel::kAwake) {
    return absl::FailedPreconditionError("the engine is asleep: wake it before stepping");
  }
  if (absl::Status s = plan.Validate(config_.vocab_size, kv_.num_blocks(), kv_.block_size(),
                                     config_.max_position_embeddings);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckAdapterSlots(plan); !s.ok()) return s;
  // Copy-on-write copies come before the forward pass writes any KV.
  for (const BlockCopy& c : plan.block_copies) kv_.CopyBlock(c.src, c.dst);
  if (plan.num_tokens() == 0) {
    StepResult empty;
    empty.seqs.resize(plan.num_seqs());
    return empty;
  }
  std::vector<int64_t> positions(plan.num_tokens());
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    for (int32_t t = plan.qo_indptr[s]; t < plan.qo_indptr[s + 1]; ++t) {
      positions[t] = plan.seqs[s].num_cached_tokens + (t - plan.qo_indptr[s]);
    }
  }
  std::vector<float> x = Forward(plan, positions);

  // Logits only where someone needs them: sampled positions, prompt log-probability targets and
  // returned logits.
  std::vector<int32_t> rows;
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    const StepSequence& seq = plan.seqs[s];
    for (int32_t t = plan.qo_indptr[s]; t < plan.qo_indptr[s + 1]; ++t) {
      const bool last = t + 1 == plan.qo_indptr[s + 1];
      const bool target =
          !seq.prompt_targets.empty() && seq.prompt_targets[t - plan.qo_indptr[s]] >= 0;
      if (target || (last && (seq.sample || seq.return_last_logits))) rows.push_back(t);
    }
  }
  const int64_t h = config_.hidden_size, vocab = config_.vocab_size;
  std::vector<float> selected(rows.size() * h);
  for (size_t r = 0; r < rows.size(); ++r) {
    std::memcpy(&selected[r * h], &x[rows[r] * h], h * sizeof(float));
  }
  RmsNorm(selected.data(), weights_.final_norm.data(), static_cast<int64_t>(rows.size()), h,
          static_cast<float>(config_.rms_norm_eps), selected.data());
  std::vector<float> logits(rows.size() * vocab);
  Linear(selected.data(), static_cast<int64_t>(rows.size()), weights_.lm_head, logits.data());

  StepResult result;
  result.seqs.resize(plan.num_seqs());
  std::vector<float> logprobs;
  size_t r = 0;
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    const StepSequence& seq = plan.seqs[s];
    SequenceOutput& out = result.seqs[s];
    if (!seq.prompt_targets.empty()) out.prompt_logprobs.resize(plan.num_fed(s));
    for (int32_t t = plan.qo_indptr[s]; t < plan.qo_indptr[s + 1]; ++t) {
      if (r == rows.size() || rows[r] != t) continue;
      const absl::Span<const float> row(&logits[r * vocab], vocab);
      ++r;
      if (!std::all_of(row.begin(), row.end(), [](float x) { return std::isfinite(x); })) {
        out.logits_non_finite = true;
      }
      const int32_t j = t - plan.qo_indptr[s];
      const bool want_target = !seq.prompt_targets.empty() && seq.prompt_targets[j] >= 0;
      const bool last = t + 1 == plan.qo_indptr[s + 1];
      if (want_target || (last && seq.sample && seq.sampling.num_logprobs > 0)) {
        LogSoftmax(row, &logprobs);
      }
      if (want_target) {
        out.prompt_logprobs[j] =
            MakeLogprobEntry(logprobs, seq.prompt_targets[j], seq.prompt_top_k);
      }
      if (!last) continue;
      if (seq.sample) {
        out.sampled_token =
            SampleToken(row, seq.sampling, HistoryOf(seq), seq.sample_index, &sampler_scratch_);
        if (seq.sampling.num_logprobs > 0) {
          out.sample_logprobs =
              MakeLogprobEntry(logprobs, out.sampled_token, seq.sampling.num_logprobs);
        }
      }
      if (seq.return_last_logits) out.last_logits.assign(row.begin(), row.end());
    }
  }
  return result;
}

}  // namespace tessera
