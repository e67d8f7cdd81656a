// What one engine step computes: a ragged batch of sequences, each feeding either a prefill chunk
// or one decode token, against the paged KV cache. The scheduler builds it; the engine only reads
// it.
//
// Tokens of all sequences are concatenated: sequence i feeds token_ids[qo_indptr[i] ..
// qo_indptr[i+1]) at positions num_cached_tokens .. num_cached_tokens + n - 1, where
// num_cached_tokens is how many of its tokens are already in the cache. The page table must already
// hold blocks for every position fed (the engine writes their K and V).
//
// Block copies (copy-on-write for samples sharing a prompt's blocks) run before any of the step's
// KV writes; a plan may hold copies and no sequence at all.
#ifndef TESSERA_ENGINE_STEP_PLAN_H_
#define TESSERA_ENGINE_STEP_PLAN_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/kv/page_table.h"
#include "engine/sampling_params.h"

namespace tessera {

// One sequence's part of a step, beyond its tokens and blocks.
struct StepSequence {
  int64_t num_cached_tokens = 0;
  // Sample the token that follows the last fed position.
  bool sample = false;
  SamplingParams sampling;
  // Index of the token being sampled within the request's output (0 for the first). With the
  // request's seed it picks the random draw, so a seeded request samples the same tokens whatever
  // else shares its batches.
  int64_t sample_index = 0;
  // The sequence's tokens so far, read by the repetition, presence and frequency penalties:
  // non-owning views into the scheduler's storage, valid only for the duration of Engine::Step
  // (an engine must not keep them). output_token_ids holds every token generated so far, the one
  // a decode step feeds included. Empty is fine when the sampling uses no penalty.
  absl::Span<const int32_t> prompt_token_ids;
  absl::Span<const int32_t> output_token_ids;
  // Tokens that get -inf for this sample, e.g. EOS and stop tokens until a request's min_tokens
  // outputs exist. Must not cover the whole vocabulary (Validate rejects that).
  std::vector<int32_t> suppressed_token_ids;
  // Prompt log-probabilities: for each fed token j, prompt_targets[j] is the token whose
  // log-probability given positions 0..j is wanted (the next prompt token), or -1 for none.
  // Empty means none for the whole chunk. Top-k alternatives come with each (0 = only the target).
  std::vector<int32_t> prompt_targets;
  int32_t prompt_top_k = 0;
  // Return the full logits of the last fed position (tests, parity checks).
  bool return_last_logits = false;
  // The LoRA adapter slot (Engine::SetAdapter) the sequence runs with; -1: the base model alone.
  int32_t adapter_slot = -1;
};

// One copy-on-write copy: every layer's K and V of block `src` into block `dst`. The samples of
// one prompt share its blocks; one that must write into a shared, partially filled block gets a
// fresh block holding a copy of it first.
struct BlockCopy {
  int32_t src = 0;
  int32_t dst = 0;
};

struct StepPlan {
  std::vector<int32_t> token_ids;
  std::vector<int32_t> qo_indptr{0};  // size num_seqs + 1
  std::vector<StepSequence> seqs;
  PageTable page_table;
  // Executed before any KV write of the step, in order (Validate's rules make the order
  // irrelevant: no block is both a source and a destination, so engines may copy in parallel).
  std::vector<BlockCopy> block_copies;

  int32_t num_seqs() const { return static_cast<int32_t>(seqs.size()); }
  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
  int32_t num_fed(int32_t seq) const { return qo_indptr[seq + 1] - qo_indptr[seq]; }

  // Empties the plan, keeping its buffers' capacity (a planner reuses one plan step after step).
  void Clear();

  // Appends a sequence; `blocks` is its whole block table (cached tokens and fed ones).
  void AddSequence(const std::vector<int32_t>& tokens, const std::vector<int32_t>& blocks,
                   int32_t block_size, StepSequence seq);

  // Checks internal consistency against the model and cache geometry: sizes of the CSR arrays,
  // token ids in [0, vocab), block ids in [0, num_blocks), enough blocks for every fed position,
  // no block written by two sequences; for sampled sequences, sampling parameters within their
  // ranges (ValidateSamplingParams), suppressed ids in [0, vocab) and not all of it, and history
  // ids in [0, vocab) when a penalty reads them; adapter_slot >= -1 (whether the slot holds an
  // adapter is the engine's check). Block copies: ids in [0, num_blocks), src != dst,
  // no dst twice, no dst that is another copy's src (a src or a dst may be written by the step:
  // copies come first). An error names the sequence or copy and what is wrong.
  absl::Status Validate(int64_t vocab_size, int32_t num_blocks, int32_t block_size,
                        int64_t max_positions) const;
};

// A token with its log-probability.
struct TokenLogprob {
  int32_t token_id = -1;
  float logprob = 0;
};

// A chosen token with its log-probability and the top-k alternatives, sorted by descending
// log-probability (ties: lower token id first).
struct LogprobEntry {
  TokenLogprob chosen;
  std::vector<TokenLogprob> top;
};

struct SequenceOutput {
  int32_t sampled_token = -1;  // -1 when the plan asked for no sample
  // Log-probability of the sampled token and its top-k (when sampling.num_logprobs > 0).
  std::optional<LogprobEntry> sample_logprobs;
  // One per fed token; nullopt where prompt_targets[j] < 0 (or when none were asked).
  std::vector<std::optional<LogprobEntry>> prompt_logprobs;
  std::vector<float> last_logits;  // when return_last_logits
  // Some logit the step computed for this sequence (a sampled row or a prompt log-probability
  // row) was NaN or infinite: the model overflowed, with an adapter's weights say. The rest of the
  // output is then meaningless, and the scheduler ends the sequence with an error instead.
  bool logits_non_finite = false;
};

struct StepResult {
  std::vector<SequenceOutput> seqs;  // in plan order
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_STEP_PLAN_H_
