#include "scheduler/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {

// Forwards updates and tells the scheduler when a request is over, so its id can be reused and
// it stops counting as in flight. The id is freed before the final update goes on: a client that
// has seen its stream end may reuse the id at once. (The core still holds the finished request
// until its step ends, but a reused id reaches the core only through the inbox, after that.)
class Scheduler::TrackingSink final : public RequestSink {
 public:
  TrackingSink(Scheduler* owner, std::string id, std::shared_ptr<RequestSink> inner)
      : owner_(owner), id_(std::move(id)), inner_(std::move(inner)) {}
  void Push(RequestUpdate update) override {
    if (update.finished) owner_->Finished(id_);
    inner_->Push(std::move(update));
  }

 private:
  Scheduler* owner_;
  std::string id_;
  std::shared_ptr<RequestSink> inner_;
};

namespace {

constexpr absl::Duration kStatsPeriod = absl::Milliseconds(10);

constexpr char kAsleep[] =
    "the server is asleep (sleep mode): an admin wakes it with POST /wake_up or "
    "tessera.v1.Admin/WakeUp; retry later or on another replica";

RequestUpdate FinalUpdate(const std::string& id, absl::Status status) {
  RequestUpdate u;
  u.request_id = id;
  u.finished = true;
  u.status = std::move(status);
  return u;
}

}  // namespace

Scheduler::Scheduler(Engine& engine, const Tokenizer* tokenizer, SchedulerOptions options,
                     const Clock* clock)
    : clock_(clock != nullptr ? *clock : system_clock_),
      options_(options),
      core_(engine, tokenizer, clock_, options) {
  stats_ = core_.stats();
}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

absl::StatusOr<StepProfile> Scheduler::ProfileStepTime(const StepProfileOptions& options) {
  {
    absl::MutexLock lock(&mu_);
    if (thread_.joinable() || stopping_) {
      return absl::FailedPreconditionError(
          "the step-time profiling pass runs before the scheduler starts");
    }
  }
  absl::StatusOr<StepProfile> profile = core_.ProfileStepTime(options);
  absl::MutexLock lock(&mu_);
  stats_ = core_.stats();
  return profile;
}

absl::StatusOr<ValidatedRequest> Scheduler::Check(GenerateRequest request) const {
  return core_.validator().Check(std::move(request));
}

absl::Status Scheduler::Submit(GenerateRequest request, std::shared_ptr<RequestSink> sink) {
  absl::StatusOr<ValidatedRequest> valid = Check(std::move(request));
  if (!valid.ok()) return valid.status();
  return Submit(*std::move(valid), std::move(sink));
}

absl::Status Scheduler::Submit(ValidatedRequest request, std::shared_ptr<RequestSink> sink) {
  // The core sees the request only between steps: stamp its arrival now, or the wait for the
  // step already running would be missing from its queue time and time to first token.
  if (!request->arrival) request.set_arrival(clock_.Now());
  const int64_t prompt = static_cast<int64_t>(request->prompt_token_ids.size());
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the scheduler is shutting down");
  if (in_flight_.contains(request->id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("request \"", request->id, "\" is already in flight"));
  }
  if (!admitting_ && options_.asleep_queue_timeout <= absl::ZeroDuration()) {
    return absl::UnavailableError(kAsleep);
  }
  const int64_t queued =
      queued_new_requests_ + static_cast<int64_t>(inbox_.size() + parked_.size());
  const int64_t tokens = queued_prompt_tokens_ + inbox_prompt_tokens_;
  if (queued >= options_.max_waiting_requests ||
      tokens + prompt > options_.max_waiting_prompt_tokens) {
    ++rejected_[request->tenant];
    return absl::ResourceExhaustedError(absl::StrCat(
        "the waiting queue is full (", queued, " requests, ", tokens, " prompt tokens; limits ",
        options_.max_waiting_requests, " and ", options_.max_waiting_prompt_tokens, ")"));
  }
  in_flight_.insert(request->id);
  std::string id = request->id;
  Submission submission{std::move(request),
                        std::make_shared<TrackingSink>(this, id, std::move(sink))};
  if (!admitting_) {
    parked_.push_back({std::move(submission), absl::Now() + options_.asleep_queue_timeout});
    newly_parked_ = true;  // the loop's wait must learn the new deadline
    return absl::OkStatus();
  }
  inbox_prompt_tokens_ += prompt;
  inbox_.push_back(std::move(submission));
  return absl::OkStatus();
}

void Scheduler::Cancel(const std::string& request_id) {
  std::shared_ptr<RequestSink> parked_sink;
  {
    absl::MutexLock lock(&mu_);
    if (!in_flight_.contains(request_id)) return;
    auto it = std::find_if(parked_.begin(), parked_.end(), [&](const ParkedSubmission& p) {
      return p.submission.request->id == request_id;
    });
    if (it == parked_.end()) {
      cancels_.push_back(request_id);
      return;
    }
    parked_sink = std::move(it->submission.sink);
    parked_.erase(it);
  }
  parked_sink->Push(FinalUpdate(request_id, absl::CancelledError("request cancelled")));
}

absl::Status Scheduler::Sleep(SleepLevel level, absl::Duration wait_for_requests) {
  if (level == SleepLevel::kAwake) {
    return absl::InvalidArgumentError("sleep level must be 1 or 2");
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the scheduler is shutting down");
  if (!thread_.joinable()) return absl::FailedPreconditionError("the scheduler has not started");
  if (transition_) {
    return absl::FailedPreconditionError("another sleep or wake-up call is under way");
  }
  if (sleep_level_ == level) return absl::OkStatus();
  if (sleep_level_ != SleepLevel::kAwake) {
    return absl::FailedPreconditionError(
        absl::StrCat("the server is asleep at level ", static_cast<int>(sleep_level_),
                     " already: wake it up before putting it to sleep at another level"));
  }
  transition_ = true;
  admitting_ = false;
  const auto settled = [](Scheduler* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
    return s->stopping_ || s->in_flight_.size() == s->parked_.size();
  };
  absl::Status status;
  if (!mu_.AwaitWithTimeout(absl::Condition(+settled, this), wait_for_requests)) {
    status = absl::FailedPreconditionError(absl::StrFormat(
        "not sleeping: %d requests still in flight after waiting %s for them; the server goes "
        "on serving (retry when it is idle)",
        in_flight_.size() - parked_.size(), absl::FormatDuration(wait_for_requests)));
  } else if (stopping_) {
    status = absl::UnavailableError("the scheduler is shutting down");
  } else {
    status = RunCommand(Command::kSleep, level);
  }
  if (status.ok()) {
    sleep_level_ = level;
  } else {
    Reopen();
  }
  transition_ = false;
  return status;
}

absl::StatusOr<absl::Duration> Scheduler::WakeUp() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the scheduler is shutting down");
  if (transition_) {
    return absl::FailedPreconditionError("another sleep or wake-up call is under way");
  }
  if (sleep_level_ == SleepLevel::kAwake) return absl::ZeroDuration();
  transition_ = true;
  const absl::Time start = absl::Now();
  const absl::Status status = RunCommand(Command::kWake, SleepLevel::kAwake);
  const absl::Duration took = absl::Now() - start;
  if (status.ok()) {
    sleep_level_ = SleepLevel::kAwake;
    last_wake_seconds_ = absl::ToDoubleSeconds(took);
    Reopen();
  }
  transition_ = false;
  if (!status.ok()) return status;
  return took;
}

absl::Status Scheduler::RunCommand(Command command, SleepLevel level) {
  command_ = command;
  command_level_ = level;
  command_done_ = false;
  const auto done = [](Scheduler* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
    return s->command_done_ || s->stopping_;
  };
  mu_.Await(absl::Condition(+done, this));
  if (!command_done_) {
    command_ = Command::kNone;
    return absl::UnavailableError("the scheduler is shutting down");
  }
  return command_status_;
}

void Scheduler::Reopen() {
  admitting_ = true;
  for (ParkedSubmission& p : parked_) {
    inbox_prompt_tokens_ += static_cast<int64_t>(p.submission.request->prompt_token_ids.size());
    inbox_.push_back(std::move(p.submission));
  }
  parked_.clear();
}

std::vector<Scheduler::Submission> Scheduler::TakeExpired(absl::Time now) {
  std::vector<Submission> expired;
  auto keep = std::stable_partition(parked_.begin(), parked_.end(),
                                    [now](const ParkedSubmission& p) { return p.deadline > now; });
  for (auto it = keep; it != parked_.end(); ++it) expired.push_back(std::move(it->submission));
  parked_.erase(keep, parked_.end());
  return expired;
}

SleepLevel Scheduler::sleep_level() const {
  absl::MutexLock lock(&mu_);
  return sleep_level_;
}

int32_t Scheduler::num_parked() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int32_t>(parked_.size());
}

void Scheduler::Finished(const std::string& request_id) {
  absl::MutexLock lock(&mu_);
  in_flight_.erase(request_id);
}

void Scheduler::Loop() {
  const auto has_work = [](Scheduler* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
    return s->stopping_ || !s->inbox_.empty() || !s->cancels_.empty() || s->core_busy_ ||
           s->command_ != Command::kNone || s->newly_parked_;
  };
  const auto has_news = [](Scheduler* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
    return s->stopping_ || !s->inbox_.empty() || !s->cancels_.empty();
  };
  std::vector<Submission> submissions;
  std::vector<std::string> cancels;
  while (true) {
    std::vector<Submission> expired;
    Command command = Command::kNone;
    SleepLevel level = SleepLevel::kAwake;
    {
      absl::MutexLock lock(&mu_);
      if (parked_.empty()) {
        mu_.Await(absl::Condition(+has_work, this));
      } else {
        absl::Time first = parked_.front().deadline;
        for (const ParkedSubmission& p : parked_) first = std::min(first, p.deadline);
        mu_.AwaitWithDeadline(absl::Condition(+has_work, this), first);
      }
      if (stopping_) break;
      submissions.swap(inbox_);
      cancels.swap(cancels_);
      inbox_prompt_tokens_ = 0;
      expired = TakeExpired(absl::Now());
      newly_parked_ = false;
      command = command_;
      level = command_level_;
    }
    for (Submission& s : expired) {
      s.sink->Push(FinalUpdate(s.request->id,
                               absl::UnavailableError(absl::StrCat(
                                   "the server stayed asleep for the whole --sleep-queue-timeout (",
                                   absl::FormatDuration(options_.asleep_queue_timeout),
                                   ") this request waited; retry later or on another replica"))));
    }
    if (command != Command::kNone) {
      // Sleep comes only once nothing is in flight; the core checks that it is idle.
      absl::Status st = command == Command::kSleep ? core_.Sleep(level) : core_.WakeUp();
      absl::MutexLock lock(&mu_);
      command_status_ = std::move(st);
      command_ = Command::kNone;
      command_done_ = true;
    }
    for (Submission& s : submissions) {
      const std::string id = s.request->id;
      if (absl::Status st = core_.Add(std::move(s.request), s.sink); !st.ok()) {
        s.sink->Push(FinalUpdate(id, std::move(st)));
      }
    }
    submissions.clear();
    for (const std::string& id : cancels) core_.Cancel(id);
    cancels.clear();
    absl::Status step_status;
    bool ran = false;
    if (!core_.idle()) {
      absl::StatusOr<StepReport> report = core_.Step();
      if (report.ok()) {
        ran = report->ran;
      } else {
        step_status = report.status();
      }
    }
    absl::MutexLock lock(&mu_);
    queued_new_requests_ = core_.num_waiting_new_requests();
    queued_prompt_tokens_ = core_.num_waiting_new_prompt_tokens();
    core_busy_ = !core_.idle();
    // Copying the stats (maps, histograms) every step would cost more than the scheduling
    // itself; a scrape a few milliseconds old is as good.
    const absl::Time now = absl::Now();
    if (!core_busy_ || now - stats_copied_ >= kStatsPeriod) {
      stats_ = core_.stats();
      stats_copied_ = now;
    }
    if (!step_status.ok()) engine_status_ = step_status;
    // Requests in flight but nothing could run (e.g. only a deadline to wait for): do not spin.
    if (core_busy_ && !ran) {
      mu_.AwaitWithTimeout(absl::Condition(+has_news, this), absl::Milliseconds(1));
    }
  }
  AbortEverything();
}

void Scheduler::AbortEverything() {
  std::vector<Submission> submissions;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    submissions.swap(inbox_);
    inbox_prompt_tokens_ = 0;
    for (ParkedSubmission& p : parked_) submissions.push_back(std::move(p.submission));
    parked_.clear();
    status = shutdown_status_;
  }
  for (Submission& s : submissions) s.sink->Push(FinalUpdate(s.request->id, status));
  core_.AbortAll(status);
  absl::MutexLock lock(&mu_);
  stats_ = core_.stats();
  core_busy_ = false;
}

void Scheduler::Shutdown(absl::Status status) {
  bool run_inline = false;
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      stopping_ = true;
      shutdown_status_ = std::move(status);
      run_inline = !thread_.joinable();
    }
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  if (run_inline) AbortEverything();
}

SchedulerStats Scheduler::Stats() const {
  absl::MutexLock lock(&mu_);
  SchedulerStats s = stats_;
  // Refusals at Submit never reach the core: count them here.
  for (const auto& [tenant, n] : rejected_) {
    s.tenants[tenant].requests_rejected += n;
    s.tenants[tenant].requests_received += n;
    s.requests_rejected_total += n;
  }
  s.num_requests_waiting += static_cast<int32_t>(parked_.size());
  s.sleep_level = sleep_level_;
  s.last_wake_seconds = last_wake_seconds_;
  return s;
}

int32_t Scheduler::num_in_flight() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int32_t>(in_flight_.size());
}

absl::Status Scheduler::engine_status() const {
  absl::MutexLock lock(&mu_);
  return engine_status_;
}

}  // namespace tessera
