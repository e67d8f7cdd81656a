#include "tests/engine/cpu/lora_lanes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tessera {

// Consecutive blocks for each lane, enough for its prompt, its greedy tokens and one more.
std::vector<std::vector<int32_t>> AssignBlocks(const std::vector<Lane>& lanes, int32_t bs,
                                               int32_t first) {
  std::vector<std::vector<int32_t>> blocks;
  int32_t next = first;
  for (const Lane& lane : lanes) {
    const auto n = static_cast<int32_t>(lane.ref->prompt_ids.size() + lane.ref->greedy.size());
    std::vector<int32_t> b((n + bs) / bs);
    std::iota(b.begin(), b.end(), next);
    next += static_cast<int32_t>(b.size());
    blocks.push_back(std::move(b));
  }
  return blocks;
}

// Every lane's prompt + greedy fed in one step, with the top-5 log-probabilities of each next
// token.
std::vector<SequenceOutput> TeacherForce(Engine& engine, const std::vector<Lane>& lanes,
                                         int32_t first_block) {
  const int32_t bs = engine.kv_geometry().block_size;
  const std::vector<std::vector<int32_t>> blocks = AssignBlocks(lanes, bs, first_block);
  StepPlan plan;
  for (size_t i = 0; i < lanes.size(); ++i) {
    std::vector<int32_t> tokens = lanes[i].ref->prompt_ids;
    tokens.insert(tokens.end(), lanes[i].ref->greedy.begin(), lanes[i].ref->greedy.end());
    StepSequence seq;
    seq.adapter_slot = lanes[i].slot;
    seq.prompt_targets.assign(tokens.size(), -1);
    for (size_t j = 0; j + 1 < tokens.size(); ++j) seq.prompt_targets[j] = tokens[j + 1];
    seq.prompt_top_k = 5;
    plan.AddSequence(tokens, blocks[i], bs, std::move(seq));
  }
  absl::StatusOr<StepResult> r = engine.Step(plan);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->seqs : std::vector<SequenceOutput>{};
}

// Greedy decoding of every lane together: a prefill step, then one decode step per token.
std::vector<std::vector<int32_t>> Greedy(Engine& engine, const std::vector<Lane>& lanes,
                                         int32_t first_block) {
  const int32_t bs = engine.kv_geometry().block_size;
  const std::vector<std::vector<int32_t>> blocks = AssignBlocks(lanes, bs, first_block);
  const size_t steps = lanes[0].ref->greedy.size();
  std::vector<std::vector<int32_t>> out(lanes.size());
  for (size_t step = 0; step < steps; ++step) {
    StepPlan plan;
    for (size_t i = 0; i < lanes.size(); ++i) {
      StepSequence seq;
      seq.adapter_slot = lanes[i].slot;
      seq.sample = true;  // temperature 0: greedy
      const std::vector<int32_t>& prompt = lanes[i].ref->prompt_ids;
      if (step == 0) {
        plan.AddSequence(prompt, blocks[i], bs, std::move(seq));
      } else {
        seq.num_cached_tokens = static_cast<int64_t>(prompt.size() + step - 1);
        plan.AddSequence({out[i].back()}, blocks[i], bs, std::move(seq));
      }
    }
    absl::StatusOr<StepResult> r = engine.Step(plan);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    for (size_t i = 0; i < lanes.size(); ++i) out[i].push_back(r->seqs[i].sampled_token);
  }
  return out;
}

void ExpectMatchesTeacherForced(const SequenceOutput& got, const Lane& lane, double tolerance) {
  const GoldenCase& c = *lane.ref;
  ASSERT_EQ(got.prompt_logprobs.size(), c.tf_logprobs.size() + 1) << lane.name;
  double worst = 0;
  for (size_t t = 0; t < c.tf_logprobs.size(); ++t) {
    ASSERT_TRUE(got.prompt_logprobs[t].has_value()) << lane.name << " position " << t;
    const LogprobEntry& e = *got.prompt_logprobs[t];
    worst = std::max(worst, std::abs(e.chosen.logprob - c.tf_logprobs[t]));
    ASSERT_EQ(e.top.size(), 5u);
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_NEAR(e.top[k].logprob, c.top5_logprobs[t][k], tolerance)
          << lane.name << " position " << t << " rank " << k;
      // Ids must agree unless the reference itself has a near-tie at this rank.
      const bool tie_before =
          k > 0 && c.top5_logprobs[t][k - 1] - c.top5_logprobs[t][k] < tolerance;
      const bool tie_after = k < 4 && c.top5_logprobs[t][k] - c.top5_logprobs[t][k + 1] < tolerance;
      if (!tie_before && !tie_after) {
        EXPECT_EQ(e.top[k].token_id, c.top5_ids[t][k]) << lane.name << " position " << t;
      }
    }
  }
  EXPECT_LT(worst, tolerance) << lane.name;
  EXPECT_FALSE(got.prompt_logprobs.back().has_value());
}

// Tokens agree up to the first step whose reference margin is below the tolerance.
void ExpectMatchesGreedy(const std::vector<int32_t>& got, const Lane& lane, double tolerance) {
  const GoldenCase& c = *lane.ref;
  ASSERT_EQ(got.size(), c.greedy.size()) << lane.name;
  size_t compared = 0;
  for (size_t s = 0; s < c.greedy.size() && c.margins[s] >= tolerance; ++s, ++compared) {
    ASSERT_EQ(got[s], c.greedy[s]) << lane.name << " step " << s;
  }
  EXPECT_GT(compared, 0u) << lane.name;
}

}  // namespace tessera
