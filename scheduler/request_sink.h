// What the scheduler tells the owner of a request (the server's stream, the CLI), one update per
// step in which something happened to it, through a sink the owner hands in with the request.
#ifndef TESSERA_SCHEDULER_REQUEST_SINK_H_
#define TESSERA_SCHEDULER_REQUEST_SINK_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/request.h"

namespace tessera {

// The per-step containers are inlined vectors: a decode step adds one token to one sample, so
// an update in the common case (n = 1) is built without a heap allocation. They read like
// std::vector (size, [], begin/end, range-for).
//
// New output of one of the request's `n` samples.
struct SampleDelta {
  int32_t index = 0;
  absl::InlinedVector<int32_t, 4> token_ids;
  absl::InlinedVector<LogprobEntry, 1> logprobs;  // one per new token, when asked
  std::string text;                               // complete characters only (with a tokenizer)
  std::optional<FinishReason> finish;             // on the sample's last delta
  std::string stop_string;                        // the stop string that finished it, if one did
  int32_t stop_token_id = -1;                     // the stop/EOS token that finished it, if one did
};

// Set on a request's final update.
struct RequestTimings {
  absl::Duration queue_time;  // arrival to first scheduled
  std::optional<absl::Duration> time_to_first_token;
  absl::Duration e2e_latency;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;      // all samples
  int64_t cached_prompt_tokens = 0;  // prompt tokens found in the prefix cache, not computed
  int32_t preemptions = 0;
  bool met_ttft_target = true;  // true when no target was set
  bool met_tpot_target = true;
};

struct RequestUpdate {
  std::string request_id;
  absl::InlinedVector<SampleDelta, 1> samples;
  // Once, when the whole prompt has been computed and prompt log-probabilities were asked for:
  // one entry per prompt token, entry 0 empty.
  std::vector<std::optional<LogprobEntry>> prompt_logprobs;
  std::optional<absl::Duration> time_to_first_token;             // with the first token
  absl::InlinedVector<absl::Duration, 1> inter_token_latencies;  // per sample token after its first
  bool finished = false;
  // On the final update: OK, or why it ended early (CANCELLED, DEADLINE_EXCEEDED, INTERNAL).
  absl::Status status;
  std::optional<RequestTimings> timings;  // on the final update
};

// Receives a request's updates on the scheduler thread. Push must be quick and must not call
// back into the scheduler.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void Push(RequestUpdate update) = 0;
};

// A sink that queues updates for another thread. Thread-safe.
class QueueSink final : public RequestSink {
 public:
  void Push(RequestUpdate update) override;
  // The next update, waiting up to `timeout`; nullopt on timeout.
  std::optional<RequestUpdate> Next(absl::Duration timeout = absl::InfiniteDuration());
  // True once the final update has been pushed (it may still be queued).
  bool done() const;

 private:
  mutable absl::Mutex mu_;
  std::deque<RequestUpdate> queue_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// Folds a request's updates into the offline result shape (one entry per sample).
struct CollectedSample {
  std::vector<int32_t> token_ids;
  std::vector<LogprobEntry> logprobs;
  std::string text;
  std::optional<FinishReason> finish;
};
struct CollectedRequest {
  std::vector<CollectedSample> samples;
  std::vector<std::optional<LogprobEntry>> prompt_logprobs;
  bool finished = false;
  absl::Status status;
  std::optional<RequestTimings> timings;
  void Add(const RequestUpdate& update);
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_REQUEST_SINK_H_
