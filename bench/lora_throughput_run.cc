#include "bench/lora_throughput_run.h"

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/load_counting_engine.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"

namespace tessera {
namespace {

// Nothing ran this many steps in a row while requests remain: the scheduler cannot progress
// (no KV block or adapter slot frees up without a step that runs).
constexpr int32_t kMaxIdleSteps = 1000;

// Keeps the first failure of a request; drops the tokens (the scheduler counts them).
class FailureSink final : public RequestSink {
 public:
  void Push(RequestUpdate update) override {
    if (update.finished && !update.status.ok() && first_error_.ok()) {
      first_error_ =
          absl::Status(update.status.code(),
                       absl::StrCat("request ", update.request_id, ": ", update.status.message()));
    }
  }
  const absl::Status& first_error() const { return first_error_; }

 private:
  absl::Status first_error_;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

absl::StatusOr<ThroughputRunFigures> RunThroughput(Engine& engine, const LoraWorkload& workload,
                                                   const std::vector<std::vector<int32_t>>& prompts,
                                                   const ThroughputRunOptions& o) {
  if (o.num_requests > static_cast<int32_t>(workload.per_request.size()) ||
      o.num_requests > static_cast<int32_t>(prompts.size())) {
    return absl::InvalidArgumentError("more requests than the workload or the prompts hold");
  }
  LoadCountingEngine counting(engine);
  SystemClock clock;
  SchedulerOptions so;
  so.max_num_batched_tokens = o.max_num_batched_tokens;
  so.max_num_seqs = o.max_num_seqs;
  so.max_waiting_requests = o.num_requests + 1;
  int64_t prompt_tokens = 0;
  for (int32_t i = 0; i < o.num_requests; ++i) prompt_tokens += prompts[i].size();
  so.max_waiting_prompt_tokens = prompt_tokens + 1;
  SchedulerCore core(counting, nullptr, clock, so);
  auto sink = std::make_shared<FailureSink>();
  for (int32_t i = 0; i < o.num_requests; ++i) {
    GenerateRequest r;
    r.id = absl::StrCat("r", i);
    r.prompt_token_ids = prompts[i];
    r.max_tokens = o.new_tokens;
    r.min_tokens = o.new_tokens;
    r.ignore_eos = true;
    r.adapter = workload.per_request[i];
    if (absl::Status s = core.Add(std::move(r), sink); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("adding request ", i, ": ", s.message()));
    }
  }
  const int64_t expected = int64_t{o.num_requests} * o.new_tokens;
  const auto start = std::chrono::steady_clock::now();
  int32_t idle_steps = 0;
  while (!core.idle()) {
    absl::StatusOr<StepReport> step = core.Step();
    if (!step.ok()) return step.status();
    idle_steps = step->ran ? 0 : idle_steps + 1;
    const bool stalled = idle_steps > kMaxIdleSteps;
    if (stalled || Seconds(start) > o.timeout_s) {
      const int64_t done = core.stats().generation_tokens_total;
      core.AbortAll(absl::DeadlineExceededError("benchmark run stopped"));
      return absl::DeadlineExceededError(absl::StrCat(
          stalled ? "the scheduler stopped making progress" : "the run passed its timeout of ",
          stalled ? "" : absl::StrCat(o.timeout_s, " s"), " after ", done, " of ", expected,
          " tokens"));
    }
  }
  ThroughputRunFigures f;
  f.seconds = Seconds(start);
  if (!sink->first_error().ok()) return sink->first_error();
  f.tokens = core.stats().generation_tokens_total;
  if (f.tokens != expected) {
    return absl::InternalError(
        absl::StrCat("generated ", f.tokens, " tokens, expected ", expected));
  }
  f.loads = counting.loads();
  f.preemptions = core.stats().num_preemptions_total;
  f.steps = core.stats().num_steps_total;
  return f;
}

}  // namespace tessera
