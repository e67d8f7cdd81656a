#include "tests/scheduler/fake_engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::testing {
namespace {

// splitmix64's finalizer: a cheap bijective mix with good avalanche.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

FakeEngine::FakeEngine(FakeEngineOptions options) : options_(std::move(options)) {
  config_.architecture = "FakeForCausalLM";
  config_.model_type = "fake";
  config_.vocab_size = options_.vocab_size;
  config_.max_position_embeddings = options_.max_position_embeddings;
  config_.eos_token_ids = options_.eos_token_ids;
  kv_.resize(static_cast<size_t>(options_.geometry.num_blocks) * options_.geometry.block_size);
  adapters_.resize(std::max(options_.num_adapter_slots, 0));
  block_adapter_.assign(options_.geometry.num_blocks, -1);
}

uint64_t FakeEngine::AdapterTag(const LoraWeights* adapter) {
  return adapter == nullptr ? 0 : Mix(reinterpret_cast<uintptr_t>(adapter));
}

absl::StatusOr<int32_t> FakeEngine::AdapterKvBlocks(const LoraWeights& weights) const {
  return options_.adapter_kv_blocks ? options_.adapter_kv_blocks(weights) : 0;
}

absl::Status FakeEngine::SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                                    absl::Span<const int32_t> kv_blocks) {
  if (slot < 0 || slot >= num_adapter_slots()) {
    return absl::InvalidArgumentError(absl::StrCat("fake engine: no adapter slot ", slot));
  }
  int32_t need = 0;
  if (weights != nullptr) {
    absl::StatusOr<int32_t> n = AdapterKvBlocks(*weights);
    if (!n.ok()) return n.status();
    need = *n;
    if (options_.adapter_load_error) {
      if (absl::Status s = options_.adapter_load_error(*weights); !s.ok()) return s;
    }
  }
  if (static_cast<int32_t>(kv_blocks.size()) != need) {
    return absl::InvalidArgumentError(absl::StrCat("fake engine: slot ", slot, " given ",
                                                   kv_blocks.size(), " KV blocks, needs ", need));
  }
  for (size_t i = 0; i < kv_blocks.size(); ++i) {
    const int32_t b = kv_blocks[i];
    if (b < 0 || b >= options_.geometry.num_blocks ||
        (block_adapter_[b] >= 0 && block_adapter_[b] != slot) ||
        std::find(kv_blocks.begin(), kv_blocks.begin() + i, b) != kv_blocks.begin() + i) {
      return absl::InvalidArgumentError(
          absl::StrCat("fake engine: slot ", slot, " given KV block ", b,
                       ", out of range, repeated or held by another adapter"));
    }
  }
  for (int32_t b : adapters_[slot].blocks) block_adapter_[b] = -1;
  adapters_[slot].blocks.assign(kv_blocks.begin(), kv_blocks.end());
  for (int32_t b : kv_blocks) block_adapter_[b] = slot;
  num_adapter_loads_ += weights != nullptr;
  adapters_[slot].weights = std::move(weights);
  return absl::OkStatus();
}

const LoraWeights* FakeEngine::AdapterOf(const StepPlan& plan, int32_t seq) const {
  const int32_t slot = plan.seqs[seq].adapter_slot;
  if (num_adapter_slots() == 0 || slot < 0) return nullptr;
  return adapters_[slot].weights.get();
}

absl::Status FakeEngine::CheckAdapters(const StepPlan& plan) const {
  if (num_adapter_slots() == 0) return absl::OkStatus();
  for (int32_t i = 0; i < plan.num_seqs(); ++i) {
    const int32_t slot = plan.seqs[i].adapter_slot;
    if (slot >= num_adapter_slots() || (slot >= 0 && adapters_[slot].weights == nullptr)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fake engine: step ", num_steps_, ", sequence ", i, " names empty adapter slot ", slot));
    }
  }
  auto held = [&](int32_t b) {
    return b >= 0 && b < static_cast<int32_t>(block_adapter_.size()) && block_adapter_[b] >= 0;
  };
  for (int32_t b : plan.page_table.indices) {
    if (held(b)) {
      return absl::InternalError(absl::StrCat("fake engine: step ", num_steps_, ": KV block ", b,
                                              " is in a page table but holds the adapter of slot ",
                                              block_adapter_[b]));
    }
  }
  for (const BlockCopy& c : plan.block_copies) {
    if (held(c.src) || held(c.dst)) {
      return absl::InternalError(absl::StrCat("fake engine: step ", num_steps_, ": block copy ",
                                              c.src, " -> ", c.dst, " touches an adapter's block"));
    }
  }
  return absl::OkStatus();
}

uint64_t FakeEngine::Extend(uint64_t prefix, int32_t token, int64_t pos) {
  return Mix(prefix ^ Mix((static_cast<uint64_t>(pos) << 32) ^ static_cast<uint32_t>(token)));
}

int32_t FakeEngine::NextToken(uint64_t prefix, const SamplingParams& sampling,
                              const LoraWeights* adapter) const {
  uint64_t h = Mix((prefix ^ AdapterTag(adapter)) + 0x9E3779B97F4A7C15ull);
  if (sampling.temperature > 0) h = Mix(h ^ Mix(sampling.seed));
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  if (u < options_.eos_probability && !options_.eos_token_ids.empty()) {
    return static_cast<int32_t>(options_.eos_token_ids.front());
  }
  return static_cast<int32_t>(Mix(h) % static_cast<uint64_t>(options_.vocab_size));
}

FakeEngine::Slot& FakeEngine::SlotOf(const PageTable& pt, int32_t seq, int64_t pos) {
  const int32_t bs = options_.geometry.block_size;
  return kv_[static_cast<size_t>(pt.block_of(seq, pos, bs)) * bs + pos % bs];
}

void FakeEngine::CopyBlocks(const std::vector<BlockCopy>& copies) {
  // Validate forbids chains, so copying one after another equals copying all at once.
  const int32_t bs = options_.geometry.block_size;
  for (const BlockCopy& c : copies) {
    for (int32_t s = 0; s < bs; ++s) {
      kv_[static_cast<size_t>(c.dst) * bs + s] = kv_[static_cast<size_t>(c.src) * bs + s];
    }
  }
}

absl::StatusOr<uint64_t> FakeEngine::CheckChain(const StepPlan& plan, int32_t seq, int64_t kv_len) {
  // A sampling step feeds everything up to its last output token: the prompt is what precedes
  // the sample_index tokens sampled so far. Other steps (prefill chunks) are not checked for it.
  const StepSequence& s = plan.seqs[seq];
  const int64_t generated_from = s.sample ? kv_len - s.sample_index : kv_len;
  uint64_t fp = kEmptyPrefix;
  for (int64_t q = 0; q < kv_len; ++q) {
    const Slot& slot = SlotOf(plan.page_table, seq, q);
    const char* problem = nullptr;
    if (!slot.written) {
      problem = "was never written";
    } else if (slot.pos != q) {
      problem = "holds another position";
    } else if (slot.fingerprint != Extend(fp, slot.token, q)) {
      problem = "holds another prefix";
    }
    // Positions past the prompt hold what this sequence sampled: the token the model draws, with
    // this sequence's own seed, after the prefix before it.
    if (problem == nullptr && q >= generated_from && q > 0 &&
        slot.token != NextToken(fp, plan.seqs[seq].sampling, AdapterOf(plan, seq))) {
      problem = "holds a token this sequence did not sample";
    }
    if (problem != nullptr) {
      return absl::InternalError(absl::StrCat(
          "fake engine: step ", num_steps_ - 1, ", sequence ", seq, " (", kv_len, " tokens, ",
          s.num_cached_tokens, " cached): the KV of position ", q, " (block ",
          plan.page_table.block_of(seq, q, options_.geometry.block_size), ") ", problem,
          slot.written ? absl::StrCat(" (position ", slot.pos, ")") : ""));
    }
    fp = slot.fingerprint;
  }
  return fp;
}

absl::StatusOr<StepResult> FakeEngine::Step(const StepPlan& plan) {
  const int32_t bs = options_.geometry.block_size;
  if (absl::Status s = plan.Validate(config_.vocab_size, options_.geometry.num_blocks, bs,
                                     config_.max_position_embeddings);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckAdapters(plan); !s.ok()) return s;
  ++num_steps_;
  PlanRecord& rec = plans_.emplace_back();
  rec.num_tokens = plan.num_tokens();
  rec.num_seqs = plan.num_seqs();
  rec.block_copies = plan.block_copies;
  rec.page_table = plan.page_table;
  for (int32_t i = 0; i < plan.num_seqs(); ++i) {
    rec.num_fed.push_back(plan.num_fed(i));
    rec.num_cached.push_back(plan.seqs[i].num_cached_tokens);
    rec.sample.push_back(plan.seqs[i].sample);
    rec.adapters.push_back(AdapterOf(plan, i));
  }

  CopyBlocks(plan.block_copies);
  // Each sequence's writes land before the next sequence's are computed, so a sequence may read
  // KV that one earlier in the plan writes in the same step (a real engine writes every K and V of
  // a layer before attention reads any: the prefix cache hands a block to a sequence planned after
  // the one computing it). The chains are checked afterwards, so a write over another sequence's
  // KV is caught.
  for (int32_t i = 0; i < plan.num_seqs(); ++i) {
    const int64_t cached = plan.seqs[i].num_cached_tokens;
    uint64_t fp = cached == 0 ? kEmptyPrefix : SlotOf(plan.page_table, i, cached - 1).fingerprint;
    for (int32_t j = 0; j < plan.num_fed(i); ++j) {
      const int64_t pos = cached + j;
      const int32_t token = plan.token_ids[plan.qo_indptr[i] + j];
      fp = Extend(fp, token, pos);
      SlotOf(plan.page_table, i, pos) = Slot{true, token, pos, fp};
    }
  }

  StepResult result;
  result.seqs.resize(plan.num_seqs());
  for (int32_t i = 0; i < plan.num_seqs(); ++i) {
    const StepSequence& s = plan.seqs[i];
    const int64_t kv_len = s.num_cached_tokens + plan.num_fed(i);
    absl::StatusOr<uint64_t> fp = CheckChain(plan, i, kv_len);
    if (!fp.ok()) return fp.status();
    for (int32_t j = 0; j < plan.num_fed(i); ++j) {
      if (SlotOf(plan.page_table, i, s.num_cached_tokens + j).token !=
          plan.token_ids[plan.qo_indptr[i] + j]) {
        return absl::InternalError(absl::StrCat("fake engine: step ", num_steps_ - 1, ", sequence ",
                                                i,
                                                ": another sequence wrote over "
                                                "position ",
                                                s.num_cached_tokens + j));
      }
    }
    SequenceOutput& out = result.seqs[i];
    out.logits_non_finite =
        options_.logits_non_finite && options_.logits_non_finite(AdapterOf(plan, i));
    if (s.sample) {
      out.sampled_token = NextToken(*fp, s.sampling, AdapterOf(plan, i));
      if (s.sampling.num_logprobs > 0) {
        LogprobEntry e;
        e.chosen = {out.sampled_token, 0.0f};
        e.top.push_back(e.chosen);
        out.sample_logprobs = std::move(e);
      }
    }
    if (!s.prompt_targets.empty()) {
      out.prompt_logprobs.resize(plan.num_fed(i));
      for (int32_t j = 0; j < plan.num_fed(i); ++j) {
        if (s.prompt_targets[j] < 0) continue;
        LogprobEntry e;
        e.chosen = {s.prompt_targets[j], -1.0f};
        out.prompt_logprobs[j] = std::move(e);
      }
    }
  }
  return result;
}

}  // namespace tessera::testing
