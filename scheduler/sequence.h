// The scheduler's per-request and per-sample state (internal to scheduler/).
//
// A request owns 1..n sequences, one per sample. With n > 1 the first sequence alone computes
// the prompt up to its last token; the others are then forked from it, sharing its KV blocks,
// and each feeds the last prompt token itself to sample its own first token.
#ifndef TESSERA_SCHEDULER_SEQUENCE_H_
#define TESSERA_SCHEDULER_SEQUENCE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "engine/sampling_params.h"
#include "scheduler/block_hash.h"
#include "scheduler/kv_block_manager.h"
#include "scheduler/output_text.h"
#include "scheduler/request.h"
#include "scheduler/request_sink.h"

namespace tessera {

struct RequestState;
struct TenantStats;

struct Sequence {
  enum class State : uint8_t { kWaiting, kRunning, kFinished };

  SeqId id = 0;
  RequestState* request = nullptr;
  int32_t index = 0;  // sample index within the request
  SamplingParams sampling;
  State state = State::kWaiting;
  std::optional<FinishReason> finish;
  std::vector<int32_t> output;
  std::vector<LogprobEntry> logprobs;
  // Tokens (prompt, then output) whose K/V are in the cache.
  int64_t num_computed = 0;
  // n > 1: this sequence computes the prompt up to its last token, then the others fork from it.
  bool fork_pending = false;
  // Prefix cache: the keys of this sequence's full blocks so far (block_hash.h), and how many of
  // its leading blocks have been offered to the cache.
  std::vector<BlockHash> block_hashes;
  int64_t num_offered_blocks = 0;
  int64_t admit_order = 0;    // when it (last) entered the running set; newer = larger
  int64_t planned_step = -1;  // the step whose plan holds it
  std::optional<absl::Time> last_token_time;
  std::unique_ptr<OutputText> text;  // with a tokenizer

  int64_t prompt_len() const;
  int64_t total_len() const { return prompt_len() + static_cast<int64_t>(output.size()); }
  int32_t TokenAt(int64_t pos) const;
  // Tokens to have in the cache before the next sample: all of them (the last output token is
  // fed, then the next one sampled), or the prompt but its last token while fork_pending.
  int64_t FeedLimit() const { return fork_pending ? prompt_len() - 1 : total_len(); }
  bool is_decode() const { return !fork_pending && total_len() - num_computed == 1; }
};

struct RequestState {
  GenerateRequest request;
  std::shared_ptr<RequestSink> sink;
  TenantStats* tenant = nullptr;  // its tenant's entry in the scheduler's stats (a stable node)
  int64_t gauge_epoch = -1;       // the last gauge refresh that counted it as running
  absl::Time arrival;
  std::optional<absl::Time> first_scheduled;
  std::optional<absl::Time> first_token;
  std::optional<absl::Time> deadline;
  int32_t preemptions = 0;
  int32_t adapter_slot = -1;  // the engine slot its adapter holds from first admission to finish
  int32_t unfinished = 0;
  int64_t generated = 0;
  bool cancelled = false;
  bool started = false;  // has had a sequence admitted (queue limits count only new requests)
  bool done = false;     // final update queued; erased after the step's updates are pushed
  uint64_t base_seed = 0;
  int64_t prompt_computed = 0;  // prompt positions computed at least once (for token counts)
  // Prefix cache: where the request's block-key chain starts, and the prompt tokens its first
  // admission found cached (reported in its usage).
  std::optional<BlockHash> prefix_seed;
  int64_t cached_prompt_tokens = 0;
  std::vector<std::unique_ptr<Sequence>> seqs;
  // Prompt log-probabilities: positions below prompt_lp_next were reported by the engine.
  std::vector<std::optional<LogprobEntry>> prompt_logprobs;
  int64_t prompt_lp_next = 1;
  bool prompt_logprobs_sent = false;
  // This step's news, pushed to the sink after the step.
  std::optional<RequestUpdate> update;
  // Where Update() lists the request when it starts one (the scheduler's, so that it flushes
  // only the requests with news).
  std::vector<RequestState*>* touched = nullptr;

  RequestUpdate& Update() {
    if (!update) {
      update.emplace();
      update->request_id = request.id;
      if (touched != nullptr) touched->push_back(this);
    }
    return *update;
  }
  SampleDelta& Delta(int32_t index);
};

inline int64_t Sequence::prompt_len() const {
  return static_cast<int64_t>(request->request.prompt_token_ids.size());
}

inline int32_t Sequence::TokenAt(int64_t pos) const {
  const int64_t p = prompt_len();
  return pos < p ? request->request.prompt_token_ids[pos] : output[pos - p];
}

inline SampleDelta& RequestState::Delta(int32_t index) {
  RequestUpdate& u = Update();
  for (SampleDelta& d : u.samples) {
    if (d.index == index) return d;
  }
  // At most one delta per sample: with n > 1 the first one sizes the vector for all of them.
  if (request.n > 1 && u.samples.empty()) u.samples.reserve(request.n);
  u.samples.emplace_back().index = index;
  return u.samples.back();
}

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SEQUENCE_H_
