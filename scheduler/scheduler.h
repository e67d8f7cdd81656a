// The serving scheduler: one thread that owns a SchedulerCore and runs steps back to back, fed
// by any number of client threads through a locked inbox (ARCHITECTURE.md rule 2).
//
// Submit validates at once and refuses at once (InvalidArgument, AlreadyExists for an id in
// flight, ResourceExhausted when the waiting queue is full, Unavailable after Shutdown), so the
// server can map each to its gRPC status before streaming. A request is validated once: an edge
// that wants the error early calls Check and submits the ValidatedRequest it returns, which
// neither Submit nor the core checks again. Everything else arrives through the request's sink,
// on the scheduler thread.
//
// Sleep mode (Sleep / WakeUp, engine/sleep_level.h): Sleep stops admitting at once, waits a
// bounded time for the requests in flight to finish (refusing with FailedPrecondition and
// admitting again if they do not), then, on the scheduler thread, drops the prefix cache and the
// resident adapters and puts the engine to sleep. While asleep, Submit refuses with Unavailable,
// or, with SchedulerOptions::asleep_queue_timeout, parks the request until a wake (then it runs)
// or the timeout (then it fails Unavailable). Such parked requests count as in flight and as
// waiting; a cancel takes one out at once.
//
// Thread-safe. The engine and tokenizer must outlive it.
#ifndef TESSERA_SCHEDULER_SCHEDULER_H_
#define TESSERA_SCHEDULER_SCHEDULER_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"

namespace tessera {

class Scheduler {
 public:
  // `clock` may be null (the system clock).
  Scheduler(Engine& engine, const Tokenizer* tokenizer, SchedulerOptions options,
            const Clock* clock = nullptr);
  ~Scheduler();  // Shutdown()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts the scheduler thread.
  void Start();
  // The profiling pass that seeds the step-time model (SchedulerCore::ProfileStepTime), on the
  // caller's thread: call before Start (FailedPrecondition after).
  absl::StatusOr<StepProfile> ProfileStepTime(const StepProfileOptions& options);

  // The request if it is valid (RequestValidator), as proof for Submit.
  absl::StatusOr<ValidatedRequest> Check(GenerateRequest request) const;
  // The scheduler's clock, for stamping GenerateRequest::arrival at the edge.
  absl::Time Now() const { return clock_.Now(); }
  absl::Status Submit(GenerateRequest request, std::shared_ptr<RequestSink> sink);
  absl::Status Submit(ValidatedRequest request, std::shared_ptr<RequestSink> sink);
  // The request leaves at the next step boundary with a CANCELLED final update; no-op for an
  // unknown or finished id.
  void Cancel(const std::string& request_id);

  // Refuses new requests, aborts those in flight with `status` (their sinks get the final
  // update), and joins the thread. Idempotent.
  void Shutdown(absl::Status status = absl::UnavailableError("the scheduler is shutting down"));

  // Puts the engine to sleep once the requests in flight have finished, waiting for them up to
  // `wait_for_requests`. OK when asleep at `level` already; FailedPrecondition when requests are
  // still in flight after the wait, when asleep at the other level (wake first), while another
  // Sleep or WakeUp runs, or before Start; InvalidArgument for kAwake; Unavailable after
  // Shutdown; the engine's error (Unimplemented: no sleep mode) otherwise. On any error the
  // scheduler goes on serving.
  absl::Status Sleep(SleepLevel level, absl::Duration wait_for_requests);
  // Wakes the engine and admits again (parked requests first); returns how long the wake took
  // (zero when awake already). The engine's error leaves the scheduler asleep.
  absl::StatusOr<absl::Duration> WakeUp();
  SleepLevel sleep_level() const;
  // Requests parked while asleep (SchedulerOptions::asleep_queue_timeout).
  int32_t num_parked() const;

  // The state after a recent step: at most about 10 ms old while requests run, current once idle.
  SchedulerStats Stats() const;
  // Requests submitted and not finished.
  int32_t num_in_flight() const;
  // The last engine failure (OK if none): requests in flight then were aborted with INTERNAL.
  absl::Status engine_status() const;

 private:
  struct Submission {
    ValidatedRequest request;
    std::shared_ptr<RequestSink> sink;
  };
  struct ParkedSubmission {
    Submission submission;
    absl::Time deadline;
  };
  // What the scheduler thread is asked to do between steps (Sleep, WakeUp).
  enum class Command { kNone, kSleep, kWake };
  class TrackingSink;

  // Hands `command` to the scheduler thread and waits for its result.
  absl::Status RunCommand(Command command, SleepLevel level) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Admits again; parked requests go to the inbox, in their order of arrival.
  void Reopen() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Parked requests whose timeout has passed at `now`, taken out of parked_.
  std::vector<Submission> TakeExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Loop();
  void Finished(const std::string& request_id);
  // Aborts what is queued and in flight with the shutdown status (scheduler thread, or inline
  // when it never started).
  void AbortEverything();

  SystemClock system_clock_;
  const Clock& clock_;
  SchedulerOptions options_;
  SchedulerCore core_;  // only the scheduler thread touches it after Start (but its validator)

  mutable absl::Mutex mu_;
  std::vector<Submission> inbox_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cancels_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> in_flight_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> rejected_ ABSL_GUARDED_BY(mu_);  // refused at Submit, by tenant
  int32_t queued_new_requests_ ABSL_GUARDED_BY(mu_) = 0;  // core's count after the last step
  int64_t inbox_prompt_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t queued_prompt_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  bool core_busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status shutdown_status_ ABSL_GUARDED_BY(mu_);
  absl::Status engine_status_ ABSL_GUARDED_BY(mu_);
  // Sleep mode: the engine's state, whether Submit admits (false from a Sleep call until the
  // wake), whether a Sleep or WakeUp call is under way, requests parked until a wake, and the
  // command for the scheduler thread with its result.
  SleepLevel sleep_level_ ABSL_GUARDED_BY(mu_) = SleepLevel::kAwake;
  bool admitting_ ABSL_GUARDED_BY(mu_) = true;
  bool transition_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<ParkedSubmission> parked_ ABSL_GUARDED_BY(mu_);
  bool newly_parked_ ABSL_GUARDED_BY(mu_) = false;  // since the loop last looked
  Command command_ ABSL_GUARDED_BY(mu_) = Command::kNone;
  SleepLevel command_level_ ABSL_GUARDED_BY(mu_) = SleepLevel::kAwake;
  bool command_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status command_status_ ABSL_GUARDED_BY(mu_);
  double last_wake_seconds_ ABSL_GUARDED_BY(mu_) = 0;
  SchedulerStats stats_ ABSL_GUARDED_BY(mu_);
  absl::Time stats_copied_ = absl::InfinitePast();  // scheduler thread only
  std::thread thread_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SCHEDULER_H_
