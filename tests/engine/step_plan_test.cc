#include "engine/step_plan.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

constexpr int64_t kVocab = 100;
constexpr int32_t kBlocks = 8, kBlockSize = 4;

StepPlan TwoSequences() {
  StepPlan plan;
  StepSequence a;  // a 6-token prefill into blocks 0, 1
  a.sample = true;
  plan.AddSequence({1, 2, 3, 4, 5, 6}, {0, 1}, kBlockSize, a);
  StepSequence b;  // a decode at position 4 (its fifth token) into block 3
  b.num_cached_tokens = 4;
  b.sample = true;
  plan.AddSequence({7}, {2, 3, 5}, kBlockSize, b);
  return plan;
}

TEST(StepPlanTest, AddSequenceBuildsCsrTables) {
  const StepPlan plan = TwoSequences();
  EXPECT_EQ(plan.qo_indptr, (std::vector<int32_t>{0, 6, 7}));
  // Only the blocks the KV length reaches are listed: b needs 2 of its 3.
  EXPECT_EQ(plan.page_table.indptr, (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(plan.page_table.indices, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(plan.page_table.last_block_len, (std::vector<int32_t>{2, 1}));
  EXPECT_EQ(plan.page_table.kv_len(0, kBlockSize), 6);
  EXPECT_EQ(plan.page_table.kv_len(1, kBlockSize), 5);
  EXPECT_EQ(plan.page_table.block_of(1, 4, kBlockSize), 3);
  EXPECT_TRUE(plan.Validate(kVocab, kBlocks, kBlockSize, 64).ok());
}

TEST(StepPlanTest, ClearedPlanEqualsAFreshOne) {
  StepPlan plan = TwoSequences();
  plan.block_copies.push_back({1, 6});
  plan.Clear();
  const StepPlan fresh;
  EXPECT_EQ(plan.num_seqs(), 0);
  EXPECT_EQ(plan.num_tokens(), 0);
  EXPECT_EQ(plan.qo_indptr, fresh.qo_indptr);
  EXPECT_EQ(plan.page_table.indptr, fresh.page_table.indptr);
  EXPECT_TRUE(plan.page_table.indices.empty());
  EXPECT_TRUE(plan.page_table.last_block_len.empty());
  EXPECT_TRUE(plan.block_copies.empty());
  // Reused, it builds the same tables as a new plan.
  StepSequence b;
  b.num_cached_tokens = 4;
  plan.AddSequence({7}, {2, 3, 5}, kBlockSize, b);
  EXPECT_EQ(plan.qo_indptr, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(plan.page_table.indices, (std::vector<int32_t>{2, 3}));
  EXPECT_TRUE(plan.Validate(kVocab, kBlocks, kBlockSize, 64).ok());
}

void ExpectInvalid(const StepPlan& plan, const std::string& fragment) {
  const absl::Status s = plan.Validate(kVocab, kBlocks, kBlockSize, 64);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s;
}

TEST(StepPlanTest, RejectsWhatWouldCorruptTheCache) {
  StepPlan p = TwoSequences();
  p.token_ids[2] = 100;
  ExpectInvalid(p, "outside the vocabulary");

  p = TwoSequences();
  p.page_table.indices[1] = kBlocks;
  ExpectInvalid(p, "block id 8");

  p = TwoSequences();
  p.page_table.indices[3] = 1;  // b would write into a's block
  ExpectInvalid(p, "written by sequences 0 and 1");

  p = TwoSequences();
  p.page_table.last_block_len[0] = 3;
  ExpectInvalid(p, "KV length of 6");

  p = TwoSequences();
  p.qo_indptr.pop_back();
  ExpectInvalid(p, "qo_indptr");

  p = TwoSequences();
  p.seqs[0].prompt_targets = {1, 2};
  ExpectInvalid(p, "2 prompt targets for 6 fed tokens");

  p = TwoSequences();
  p.seqs[1].sampling.temperature = -1;
  ExpectInvalid(p, "temperature");

  EXPECT_FALSE(TwoSequences().Validate(kVocab, kBlocks, kBlockSize, 5).ok());  // past the context
}

TEST(StepPlanTest, AdapterSlotIsMinusOneOrANonNegativeSlot) {
  StepPlan p = TwoSequences();
  p.seqs[0].adapter_slot = 0;
  p.seqs[1].adapter_slot = 1000;  // whether the slot exists is the engine's check
  EXPECT_TRUE(p.Validate(kVocab, kBlocks, kBlockSize, 64).ok());
  p.seqs[1].adapter_slot = -2;
  const absl::Status s = p.Validate(kVocab, kBlocks, kBlockSize, 64);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("sequence 1: adapter slot -2"), absl::string_view::npos) << s;
}

TEST(StepPlanTest, AcceptsCopyOnWriteCopies) {
  // b writes block 3 and reads block 2: 3 may be a destination (b writes into its fresh copy),
  // 2 may be a source, here of two copies (one prompt block forked for two samples).
  StepPlan p = TwoSequences();
  p.block_copies = {{4, 3}, {2, 6}, {2, 7}};
  EXPECT_TRUE(p.Validate(kVocab, kBlocks, kBlockSize, 64).ok())
      << p.Validate(kVocab, kBlocks, kBlockSize, 64);

  // Copies alone, with no sequence, are a valid step.
  StepPlan only;
  only.block_copies = {{1, 2}};
  EXPECT_EQ(only.num_seqs(), 0);
  EXPECT_TRUE(only.Validate(kVocab, kBlocks, kBlockSize, 64).ok())
      << only.Validate(kVocab, kBlocks, kBlockSize, 64);
}

TEST(StepPlanTest, RejectsBlockCopiesThatWouldCorruptTheCache) {
  StepPlan p = TwoSequences();
  p.block_copies = {{kBlocks, 6}};
  ExpectInvalid(p, "block copy 0 (8 -> 6): block id outside [0, 8)");
  p.block_copies = {{6, -1}};
  ExpectInvalid(p, "block copy 0 (6 -> -1): block id outside");

  p.block_copies = {{4, 6}, {5, 5}};
  ExpectInvalid(p, "block copy 1 copies block 5 onto itself");

  p.block_copies = {{4, 6}, {5, 6}};
  ExpectInvalid(p, "block copy 1: block 6 is the destination of two copies");

  p.block_copies = {{4, 6}, {6, 7}};  // a chain: the result would depend on the copy order
  ExpectInvalid(p, "block copy 0: destination 6 is the source of another copy");

  // A source written by the step is fine: the last sharer of a block writes it in place while
  // the others copy it, and the copies come before any write.
  p.block_copies = {{4, 6}, {3, 7}};  // b's decode writes block 3
  EXPECT_TRUE(p.Validate(kVocab, kBlocks, kBlockSize, 64).ok())
      << p.Validate(kVocab, kBlocks, kBlockSize, 64);

  // Copy-only plans are checked too.
  StepPlan only;
  only.block_copies = {{2, 2}};
  ExpectInvalid(only, "onto itself");
}

TEST(StepPlanTest, RejectsSamplingTheSamplerCannotRun) {
  StepPlan p = TwoSequences();
  p.seqs[1].sampling.top_p = 0;
  ExpectInvalid(p, "sequence 1: top_p must be in (0, 1]");

  p = TwoSequences();
  p.seqs[0].sampling.logit_bias = {{kVocab, 1.0f}};
  ExpectInvalid(p, "sequence 0: logit_bias token id");

  p = TwoSequences();
  p.seqs[1].suppressed_token_ids = {2, kVocab};
  ExpectInvalid(p, "sequence 1: suppressed_token_ids[1] = 100 is outside the vocabulary");

  // Banning the whole vocabulary (ids may repeat) leaves nothing to sample.
  p = TwoSequences();
  for (int32_t t = 0; t < kVocab; ++t) p.seqs[0].suppressed_token_ids.push_back(t);
  p.seqs[0].suppressed_token_ids.push_back(3);
  ExpectInvalid(p, "bans every token");
  p.seqs[0].suppressed_token_ids.back() = 3;
  p.seqs[0].suppressed_token_ids[kVocab - 1] = 3;  // now token 99 is allowed
  EXPECT_TRUE(p.Validate(kVocab, kBlocks, kBlockSize, 64).ok());

  // History ids are checked when a penalty reads them, and only then.
  const std::vector<int32_t> prompt = {1, 2, 500}, output = {3, -1};
  p = TwoSequences();
  p.seqs[1].prompt_token_ids = prompt;
  p.seqs[1].output_token_ids = output;
  EXPECT_TRUE(p.Validate(kVocab, kBlocks, kBlockSize, 64).ok());
  p.seqs[1].sampling.repetition_penalty = 1.2f;
  ExpectInvalid(p, "sequence 1: prompt_token_ids[2] = 500");
  p.seqs[1].prompt_token_ids = absl::MakeConstSpan(prompt).first(2);
  ExpectInvalid(p, "sequence 1: output_token_ids[1] = -1");

  // A sequence that samples nothing is not held to sampling rules.
  p = TwoSequences();
  p.seqs[0].sample = false;
  p.seqs[0].sampling.top_p = 0;
  EXPECT_TRUE(p.Validate(kVocab, kBlocks, kBlockSize, 64).ok());
}

}  // namespace
}  // namespace tessera
