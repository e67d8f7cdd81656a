#include "scheduler/step_profiler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "scheduler/plan_shape.h"

namespace tessera {
namespace {

// One group of the pass: `seqs` sequences that prefill `context` tokens each, then decode.
struct Group {
  int64_t seqs = 0;
  int64_t context = 0;
};

constexpr int kDecodeStepsPerGroup = 2;
constexpr int64_t kMaxBatch = 16;

// Sequence ids of the pass: negative, so they can never collide with the scheduler's (0, 1, ...).
SeqId ProfileSeqId(int64_t i) { return -1 - i; }

// Some token id in [0, vocab): the pass measures time, not text.
int32_t TokenAt(int64_t seq, int64_t pos, int64_t vocab) {
  return static_cast<int32_t>((seq * 31 + pos * 7 + 1) % vocab);
}

// Runs `groups` (truncated to the steps and time left) and frees every sequence it made.
class Pass {
 public:
  Pass(Engine& engine, KvBlockManager& blocks, const Clock& clock, const StepProfileOptions& o)
      : engine_(engine), blocks_(blocks), clock_(clock), options_(o) {}
  ~Pass() {
    for (SeqId id : live_) blocks_.Free(id).IgnoreError();
  }

  absl::StatusOr<StepProfile> Run(const std::vector<Group>& groups) {
    const absl::Time start = clock_.Now();
    // Warm-up: one sequence, one token; not recorded.
    if (absl::Status s = RunGroupStep({1, 1}, /*position=*/0, /*fed=*/1, /*record=*/false);
        !s.ok()) {
      return s;
    }
    FreeAll();
    for (const Group& g : groups) {
      if (Done(start)) break;
      // A group whose prefill would end past max_time at the slowest rate seen is left out (a
      // later, smaller one may still fit): one long step must not overrun the bound by seconds.
      if (clock_.Now() - start + PredictedPrefill(g) > options_.max_time) continue;
      if (absl::Status s = RunGroupStep(g, 0, g.context, true); !s.ok()) return s;
      for (int d = 0; d < kDecodeStepsPerGroup && !Done(start); ++d) {
        if (absl::Status s = RunGroupStep(g, g.context + d, 1, true); !s.ok()) return s;
      }
      FreeAll();
    }
    profile_.elapsed = clock_.Now() - start;
    return std::move(profile_);
  }

 private:
  // The prefill of `g` at the most seconds per prefill token measured so far (zero before any).
  absl::Duration PredictedPrefill(const Group& g) const {
    double per_token = 0;
    for (const StepSample& s : profile_.samples) {
      if (s.shape.prefill_tokens > 0) {
        per_token = std::max(per_token, s.seconds / static_cast<double>(s.shape.prefill_tokens));
      }
    }
    return absl::Seconds(per_token * static_cast<double>(g.seqs * g.context));
  }

  bool Done(absl::Time start) const {
    return steps_ >= options_.max_steps || clock_.Now() - start >= options_.max_time;
  }

  // One step: each of the group's sequences feeds `fed` tokens at positions [position, +fed).
  absl::Status RunGroupStep(const Group& g, int64_t position, int64_t fed, bool record) {
    const int64_t vocab = engine_.config().vocab_size;
    const int32_t block_size = blocks_.block_size();
    StepPlan plan;
    std::vector<int32_t> tokens;
    for (int64_t i = 0; i < g.seqs; ++i) {
      const SeqId id = ProfileSeqId(i);
      if (absl::Status s = blocks_.Allocate(id, position + fed); !s.ok()) return s;
      if (position == 0) live_.push_back(id);
      tokens.clear();
      if (position == 0) {
        for (int64_t p = 0; p < fed; ++p) tokens.push_back(TokenAt(i, p, vocab));
      } else {
        // A decode feeds what the sequence sampled last, as serving does (an engine may check).
        tokens.push_back(sampled_[static_cast<size_t>(i)]);
      }
      StepSequence seq;
      seq.num_cached_tokens = position;
      seq.sample = true;
      seq.sample_index = position == 0 ? 0 : position - g.context + 1;
      plan.AddSequence(tokens, blocks_.BlockTable(id), block_size, std::move(seq));
    }
    const absl::Time started = clock_.Now();
    absl::StatusOr<StepResult> result = engine_.Step(plan);
    if (!result.ok()) {
      return absl::Status(result.status().code(),
                          absl::StrCat("step-time profiling pass: ", result.status().message()));
    }
    ++steps_;
    sampled_.resize(static_cast<size_t>(g.seqs));
    for (int64_t i = 0; i < g.seqs; ++i) {
      const int32_t token = result->seqs[static_cast<size_t>(i)].sampled_token;
      sampled_[static_cast<size_t>(i)] = token >= 0 && token < vocab ? token : TokenAt(i, 0, vocab);
    }
    if (record) {
      profile_.samples.push_back({ShapeOf(plan), absl::ToDoubleSeconds(clock_.Now() - started)});
    }
    return absl::OkStatus();
  }

  void FreeAll() {
    for (SeqId id : live_) blocks_.Free(id).IgnoreError();
    live_.clear();
  }

  Engine& engine_;
  KvBlockManager& blocks_;
  const Clock& clock_;
  const StepProfileOptions& options_;
  std::vector<SeqId> live_;
  std::vector<int32_t> sampled_;  // per sequence of the group: the token it sampled last
  int32_t steps_ = 0;
  StepProfile profile_;
};

// The groups for these limits: prefill tokens, decoding sequences and attended positions vary
// independently across them. A group that cannot fit (cache, context) is shrunk or left out.
std::vector<Group> ChooseGroups(const KvBlockManager& blocks, int64_t max_len,
                                const StepProfileOptions& o) {
  const int64_t room = int64_t{blocks.num_free_blocks()} * blocks.block_size();
  const int64_t longest =
      std::min({o.max_chunk_tokens, o.max_num_batched_tokens, max_len - kDecodeStepsPerGroup});
  const int64_t batch = std::min<int64_t>({kMaxBatch, o.max_num_seqs, longest / 2});
  std::vector<Group> groups;
  if (longest < 1) return groups;
  const Group wanted[] = {{1, longest / 8},
                          {batch, longest / (2 * std::max<int64_t>(batch, 1))},
                          {1, longest},
                          {batch, longest / std::max<int64_t>(batch, 1)}};
  for (Group g : wanted) {
    if (g.seqs < 1) continue;
    auto blocks_for = [&](const Group& x) {
      return x.seqs * blocks.BlocksFor(x.context + kDecodeStepsPerGroup);
    };
    while (g.context >= 1 && blocks_for(g) > blocks.num_free_blocks()) g.context /= 2;
    if (g.context < 1 || g.seqs * (g.context + kDecodeStepsPerGroup) > room) continue;
    groups.push_back(g);
  }
  return groups;
}

}  // namespace

absl::StatusOr<StepProfile> ProfileSteps(Engine& engine, KvBlockManager& blocks, const Clock& clock,
                                         const StepProfileOptions& options) {
  if (options.max_steps < 0 || options.max_chunk_tokens < 1 || options.max_num_batched_tokens < 1 ||
      options.max_num_seqs < 1 || options.max_model_len < 0 ||
      options.max_time <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step-time profiling pass: options out of range (max_steps ", options.max_steps,
        " must be >= 0; max_chunk_tokens ", options.max_chunk_tokens, ", max_num_batched_tokens ",
        options.max_num_batched_tokens, " and max_num_seqs ", options.max_num_seqs,
        " >= 1; max_model_len ", options.max_model_len, " >= 0; max_time ",
        absl::FormatDuration(options.max_time), " > 0)"));
  }
  if (options.max_steps == 0) return StepProfile();
  int64_t max_len = engine.config().max_position_embeddings;
  if (options.max_model_len > 0) max_len = std::min(max_len, options.max_model_len);
  if (blocks.num_free_blocks() < 1 || max_len < 1) {
    return absl::FailedPreconditionError(
        "step-time profiling pass: no free KV block or no context to profile with");
  }
  Pass pass(engine, blocks, clock, options);
  return pass.Run(ChooseGroups(blocks, max_len, options));
}

FitError FitErrorOf(const StepTimeCoefficients& coefficients,
                    const std::vector<StepSample>& samples) {
  FitError e;
  int64_t n = 0;
  for (const StepSample& s : samples) {
    if (!(s.seconds > 0)) continue;
    const double relative = std::abs(coefficients.Predict(s.shape) - s.seconds) / s.seconds;
    e.mean_relative += relative;
    e.max_relative = std::max(e.max_relative, relative);
    ++n;
  }
  if (n > 0) e.mean_relative /= static_cast<double>(n);
  return e;
}

}  // namespace tessera
