// Scheduler overhead per step: SchedulerCore::Step over an engine that costs nothing (it returns
// a fixed token, never EOS), with `running` sequences decoding and `waiting` requests queued
// behind them (max_num_seqs is full, so they stay queued). No tokenizer, so no stop strings.
// Updates are freed between steps, untimed (in serving the stream's thread frees them).
// Prints the median, p90 and mean wall time of Step; the goal is under 50 us at 256 running.
//
//   scheduler_bench [--running 256] [--waiting 0,64,1024] [--steps 2000] [--tenants 4]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"
#include "scheduler/scheduling_policy.h"

namespace tessera {
namespace {

// --scheduling-policy: which policy the measured core runs.
SchedulingPolicyKind g_policy = SchedulingPolicyKind::kPriority;

constexpr int32_t kToken = 7;
constexpr int32_t kPromptLen = 32;

class NoOpEngine final : public Engine {
 public:
  explicit NoOpEngine(int32_t num_blocks) {
    config_.architecture = "NoOp";
    config_.vocab_size = 32000;
    config_.max_position_embeddings = int64_t{1} << 20;
    config_.eos_token_ids = {2};
    geometry_ = {num_blocks, 16};
  }
  const ModelConfig& config() const override { return config_; }
  KvCacheGeometry kv_geometry() const override { return geometry_; }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override {
    StepResult r;
    r.seqs.resize(plan.seqs.size());
    for (size_t i = 0; i < plan.seqs.size(); ++i) {
      if (plan.seqs[i].sample) r.seqs[i].sampled_token = kToken;
    }
    return r;
  }

 private:
  ModelConfig config_;
  KvCacheGeometry geometry_;
};

// Keeps the updates until Drop(), outside the timed region: in serving, a sink hands them to
// another thread (the stream's), which frees them; that is not the scheduler thread's cost.
class HoldingSink final : public RequestSink {
 public:
  void Push(RequestUpdate update) override { held_.push_back(std::move(update)); }
  void Drop() { held_.clear(); }

 private:
  std::vector<RequestUpdate> held_;
};

struct Figures {
  double median_us, p90_us, mean_us;
};

Figures Run(int32_t running, int32_t waiting, int32_t steps, int32_t tenants) {
  // Blocks for every running sequence to grow by `steps` tokens and more.
  const int warmup = std::min(steps, 200);  // untimed: caches, allocator, vectors at full size
  const int32_t per_seq = (kPromptLen + warmup + steps + 64) / 16 + 2;
  NoOpEngine engine(std::max(1 << 16, per_seq * running + 1024));
  ManualClock clock;
  SchedulerOptions o;
  o.scheduling_policy = g_policy;
  o.max_num_seqs = running;
  o.max_waiting_requests = running + waiting + 1;
  SchedulerCore core(engine, nullptr, clock, o);
  auto sink = std::make_shared<HoldingSink>();
  auto add = [&](int i) {
    GenerateRequest r;
    r.id = absl::StrCat("req-", i);
    r.tenant = absl::StrCat("tenant-", i % tenants);
    r.prompt_token_ids.assign(kPromptLen, 11 + i % 100);
    r.max_tokens = 100000;  // never finishes during the run
    if (absl::Status s = core.Add(std::move(r), sink); !s.ok()) {
      std::fprintf(stderr, "add failed: %s\n", std::string(s.message()).c_str());
      std::exit(1);
    }
  };
  for (int i = 0; i < running; ++i) add(i);
  // Prefill everything so that the measured steps are decodes only.
  while (core.stats().num_seqs_running < running || core.stats().last_step_tokens > running) {
    if (!core.Step().ok()) std::exit(1);
  }
  for (int i = 0; i < waiting; ++i) add(running + i);
  std::vector<double> us;
  us.reserve(steps);
  for (int s = -warmup; s < steps; ++s) {
    clock.Advance(absl::Milliseconds(20));
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<StepReport> report = core.Step();
    const auto t1 = std::chrono::steady_clock::now();
    if (!report.ok() || report->num_seqs != running || report->num_prefill_tokens != 0) {
      std::fprintf(stderr, "unexpected step: %s\n",
                   report.ok() ? "not a full decode batch" : report.status().ToString().c_str());
      std::exit(1);
    }
    if (s >= 0) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    sink->Drop();
  }
  const double mean = std::accumulate(us.begin(), us.end(), 0.0) / us.size();
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 9 / 10], mean};
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  CLI::App app{"SchedulerCore per-step overhead over a free engine"};
  int32_t running = 256, steps = 2000, tenants = 4;
  std::vector<int32_t> waiting = {0, 64, 1024};
  app.add_option("--running", running, "decoding sequences (= max_num_seqs)");
  app.add_option("--waiting", waiting, "queued requests behind them")->delimiter(',');
  app.add_option("--steps", steps, "measured steps per case");
  app.add_option("--tenants", tenants, "tenants the requests spread over");
  std::string policy = "priority";
  app.add_option("--scheduling-policy", policy, "fcfs | priority | slo")
      ->check(CLI::IsMember({"fcfs", "priority", "slo"}));
  CLI11_PARSE(app, argc, argv);
  tessera::g_policy = *tessera::ParseSchedulingPolicy(policy);
  std::printf("%8s %8s %8s %12s %12s %12s\n", "running", "waiting", "steps", "median_us", "p90_us",
              "mean_us");
  for (int32_t w : waiting) {
    const tessera::Figures f = tessera::Run(running, w, steps, tenants);
    std::printf("%8d %8d %8d %12.1f %12.1f %12.1f\n", running, w, steps, f.median_us, f.p90_us,
                f.mean_us);
  }
  return 0;
}
