// The serving scheduler's state machine: continuous batching over an Engine, one step at a time.
//
// Lifecycle of a request: waiting -> running -> finished | aborted, and running -> preempted ->
// waiting (at the front of its class). Each step:
//   1. aborts requests that were cancelled or ran past their deadline (their blocks are freed),
//   2. lets a waiting interactive request preempt running batch ones when KV is short,
//   3. forms the batch under the token budget and max_num_seqs: running sequences first, in
//      priority order (interactive, then batch; older first), decodes and prefill chunks alike,
//      where a batch request that has waited batch_max_wait since arrival ranks as interactive
//      (aging: newer interactive requests can no longer preempt it),
//      then newly admitted ones with the budget that is left (a long prompt is chunked, so it
//      never stalls the decodes),
//   4. decides capacity apart from batch forming: a sequence that needs KV blocks that are not
//      free first takes those of idle resident LoRA adapters (AdapterPager, unified paging), then
//      preempts the lowest-priority, newest sequence not yet in this step (possibly itself)
//      by recompute -- its blocks are freed and it later recomputes prompt + output, resuming
//      with identical output,
//   5. prefetches the adapters of waiting requests into empty slots, from blocks that the next
//      step cannot need (so the engine copies them while this step runs),
//   6. runs Engine::Step and applies the samples: stop tokens, EOS (unless ignore_eos), stop
//      strings, min_tokens, max_tokens; the `n` samples of one prompt share its KV blocks. A
//      sequence whose logits were not finite (SequenceOutput::logits_non_finite) ends its request
//      with INTERNAL "non-finite logits in step", naming the adapter, and none of that step's
//      tokens; the rest of the batch is unaffected.
// A request pins its adapter's slot from its first admission to its finish. Where the engine keeps
// adapters in KV blocks, a request whose sequences are all preempted lets go of its pin (its
// adapter stays resident, idle, unless evicted meanwhile), so that waiting requests never hold
// blocks that running ones need.
// A request that can never fit (alone, in the whole cache) is refused when added, so the loop
// cannot deadlock; the oldest running sequence of the highest class always progresses.
//
// Not thread-safe: the Scheduler thread (or a test) drives it. The engine, tokenizer and clock
// must outlive it.
#ifndef TESSERA_SCHEDULER_SCHEDULER_CORE_H_
#define TESSERA_SCHEDULER_SCHEDULER_CORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "scheduler/adapter_pager.h"
#include "scheduler/clock.h"
#include "scheduler/kv_block_manager.h"
#include "scheduler/request.h"
#include "scheduler/request_sink.h"
#include "scheduler/scheduler_stats.h"
#include "scheduler/sequence.h"
#include "scheduler/waiting_queue.h"

namespace tessera {

struct SchedulerOptions {
  int32_t max_num_batched_tokens = 2048;  // tokens fed per step, all sequences together
  int32_t max_num_seqs = 256;             // sequences per step
  // Bounded waiting queue: requests not yet started beyond these are refused at once
  // (ResourceExhausted).
  int32_t max_waiting_requests = 1024;
  int64_t max_waiting_prompt_tokens = int64_t{1} << 21;
  // A waiting batch request older than this is admitted before interactive ones.
  absl::Duration batch_max_wait = absl::Seconds(10);
  int32_t max_stop_strings = 16;
  int32_t max_stop_string_bytes = 256;
  int32_t max_n = 64;
  // Waiting requests' adapters (distinct, in queue order) that a step considers loading ahead of
  // their admission; 0: no prefetch.
  int32_t adapter_prefetch_depth = 4;
  // --max-model-len: prompt + max_tokens beyond it are refused; 0: the model's context. (The
  // engine is capped to it too, so that it sizes the KV cache for it.)
  int64_t max_model_len = 0;
};

// What one step did (for tests and the benchmark).
struct StepReport {
  bool ran = false;  // false: nothing to run (idle)
  int32_t num_seqs = 0;
  int32_t num_tokens = 0;
  int32_t num_prefill_tokens = 0;
  int32_t num_preempted = 0;
};

class SchedulerCore {
 public:
  // `tokenizer` may be null: output is then token ids only and stop strings are refused.
  SchedulerCore(Engine& engine, const Tokenizer* tokenizer, const Clock& clock,
                SchedulerOptions options);
  ~SchedulerCore();
  SchedulerCore(const SchedulerCore&) = delete;
  SchedulerCore& operator=(const SchedulerCore&) = delete;

  // Checks a request against the model, the cache and the options: InvalidArgument naming the
  // field.
  absl::Status Validate(const GenerateRequest& request) const;

  // Queues a request; its updates go to `sink`. InvalidArgument (see Validate), AlreadyExists
  // for an id in flight, ResourceExhausted when the waiting queue is full.
  absl::Status Add(GenerateRequest request, std::shared_ptr<RequestSink> sink);

  // Marks a request cancelled; it leaves at the next step boundary with a CANCELLED final
  // update. False when no such request is in flight.
  bool Cancel(const std::string& request_id);

  // Runs one step. An engine failure aborts every request in flight (INTERNAL) and is returned.
  absl::StatusOr<StepReport> Step();

  // Aborts every request in flight with `status` (shutdown).
  void AbortAll(const absl::Status& status);

  bool idle() const { return requests_.empty(); }
  int32_t num_waiting_new_requests() const { return waiting_new_requests_; }
  int64_t num_waiting_new_prompt_tokens() const { return waiting_new_prompt_tokens_; }
  const SchedulerStats& stats() const { return stats_; }
  const KvBlockManager& blocks() const { return blocks_; }

 private:
  struct Scheduled {
    Sequence* seq;
    int64_t fed;
  };

  void ReapAborted(absl::Time now);
  void PreemptForWaitingInteractive(absl::Time now);
  // Finds room for `seq` to hold `tokens` tokens, preempting lower sequences not yet scheduled
  // this step; false when `seq` itself had to be preempted.
  bool MakeRoom(Sequence* seq, int64_t tokens, const std::vector<Sequence*>& order, size_t pos,
                absl::Time now);
  // The largest chunk <= `want` that fits the free blocks for `seq` (0 if none).
  int64_t FittingChunk(const Sequence* seq, int64_t want) const;
  void Preempt(Sequence* seq, absl::Time now);
  // Evicts idle adapters (never `seq`'s own) until `seq` can hold `tokens` tokens, or none is
  // left to evict.
  void ReclaimAdapterBlocks(const Sequence* seq, int64_t tokens);
  // Whether the blocks for `seq`'s adapter (and then its first token) can be found.
  bool AdapterHasRoom(const Sequence* seq) const;
  // Blocks that `seq` needs to feed its next token (what an adapter load must leave free).
  int32_t FirstTokenBlocks(const Sequence* seq) const;
  // Lets go of `r`'s adapter pin when none of its sequences runs (they are preempted, or
  // finished) and the adapter holds blocks.
  void UnpinIfWaiting(RequestState* r);
  void PrefetchAdapters();
  void AddToPlan(Sequence* seq, int64_t chunk, StepPlan* plan);
  absl::Status Admit(Sequence* seq, absl::Time now);
  enum class AdapterAdmission { kReady, kWait, kFailed };
  // Gives `seq`'s request its adapter's slot (loading the adapter into the engine when it is not
  // resident) before it is admitted. kWait: no slot is free, or no room for the adapter's blocks.
  // kFailed: the engine refused the adapter, or it and the request cannot fit the cache together;
  // the request was finished with the error.
  AdapterAdmission PrepareAdapter(Sequence* seq, absl::Time now);
  void ApplyOutput(Sequence* seq, int64_t fed, SequenceOutput& out, absl::Time now);
  void AppendToken(Sequence* seq, int32_t token, std::optional<LogprobEntry> logprob,
                   absl::Time now);
  void ForkSamples(Sequence* parent, absl::Time now);
  void FinishSequence(Sequence* seq, FinishReason reason, absl::Time now);
  void FinishRequest(RequestState* r, const absl::Status& status, absl::Time now);
  void RemoveFromRunning(Sequence* seq);
  void FlushUpdates();
  void RefreshGauges();
  SeqId NewSeqId() { return next_seq_id_++; }

  Engine& engine_;
  const Tokenizer* tokenizer_;
  const Clock& clock_;
  SchedulerOptions options_;
  KvCacheGeometry geometry_;
  KvBlockManager blocks_;
  std::vector<int64_t> eos_ids_;

  absl::flat_hash_map<std::string, std::unique_ptr<RequestState>> requests_;
  WaitingQueue waiting_;
  std::vector<Sequence*> running_;  // in admission order: admit_order grows along it
  int32_t waiting_new_requests_ = 0;
  int64_t waiting_new_prompt_tokens_ = 0;
  SeqId next_seq_id_ = 0;
  int64_t next_admit_order_ = 0;
  std::vector<RequestState*> touched_;  // requests with an update this step
  // What ReapAborted looks at, so that a step does not scan every request in flight: ids
  // cancelled since the last step, and a min-heap of deadlines (an entry whose request has
  // finished, or whose id now names a newer request, is skipped when it comes up).
  std::vector<std::string> cancelled_;
  using Deadline = std::pair<absl::Time, std::string>;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<Deadline>> deadlines_;
  // Reused from step to step, so that their buffers are not reallocated each time.
  StepPlan plan_;
  std::vector<int32_t> feed_;                         // one sequence's tokens for the plan
  std::vector<Sequence*> order_;                      // running sequences in priority order
  std::vector<Scheduled> scheduled_;                  // what the plan holds, in plan order
  AdapterPager adapters_;                             // after blocks_, which it uses
  std::map<std::string, int32_t> adapter_in_flight_;  // requests in flight by adapter name
  SchedulerStats stats_;
  int64_t gauge_epoch_ = 0;  // counts RefreshGauges calls
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SCHEDULER_CORE_H_
