#include "bench/slo_sim_run.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "scheduler/clock.h"
#include "scheduler/plan_shape.h"
#include "scheduler/request_sink.h"
#include "scheduler/scheduler_core.h"

namespace tessera {
namespace {

// An engine that only takes time: each step advances the clock by the cost model's prediction
// for its shape and samples token 7.
class CostModelEngine final : public Engine {
 public:
  CostModelEngine(ManualClock& clock, StepTimeCoefficients cost, SimStepStats* stats)
      : clock_(clock), cost_(cost), stats_(stats) {
    config_.vocab_size = 32000;
    config_.max_position_embeddings = 1 << 16;
  }
  const ModelConfig& config() const override { return config_; }
  KvCacheGeometry kv_geometry() const override { return {1 << 16, 16}; }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override {
    const StepShape shape = ShapeOf(plan);
    const double seconds = cost_.Predict(shape);
    clock_.Advance(absl::Seconds(seconds));
    ++stats_->steps;
    stats_->seconds += seconds;
    stats_->decodes += shape.decode_sequences;
    stats_->max_step = std::max(stats_->max_step, seconds);
    if (shape.prefill_tokens > 0) {
      ++stats_->prefill_steps;
      stats_->prefill_tokens += shape.prefill_tokens;
      stats_->prefill_step_seconds += seconds;
    }
    StepResult r;
    r.seqs.resize(static_cast<size_t>(plan.num_seqs()));
    for (int32_t i = 0; i < plan.num_seqs(); ++i) {
      if (plan.seqs[static_cast<size_t>(i)].sample)
        r.seqs[static_cast<size_t>(i)].sampled_token = 7;
    }
    return r;
  }

 private:
  ManualClock& clock_;
  StepTimeCoefficients cost_;
  SimStepStats* stats_;
  ModelConfig config_;
};

class Recorder final : public RequestSink {
 public:
  explicit Recorder(SimOutcome* out) : out_(out) {}
  void Push(RequestUpdate u) override {
    if (!u.finished || !u.timings.has_value()) return;
    const RequestTimings& t = *u.timings;
    out_->finished = u.status.ok();
    out_->met_both = u.status.ok() && t.met_ttft_target && t.met_tpot_target;
    out_->met_ttft = t.met_ttft_target;
    out_->met_tpot = t.met_tpot_target;
    out_->queue = absl::ToDoubleSeconds(t.queue_time);
    out_->ttft = t.time_to_first_token ? absl::ToDoubleSeconds(*t.time_to_first_token) : 0;
    const double decode = absl::ToDoubleSeconds(t.e2e_latency) - out_->ttft;
    out_->tpot = t.generated_tokens > 1 ? decode / static_cast<double>(t.generated_tokens - 1) : 0;
  }

 private:
  SimOutcome* out_;
};

}  // namespace

std::vector<SimClass> IssueClasses(const StepTimeCoefficients& cost) {
  std::vector<SimClass> classes = {{"chat", 0.8, 64, 256, 48, 128, {}, {}},
                                   {"doc", 0.2, 1024, 2048, 64, 128, {}, {}}};
  for (SimClass& c : classes) {
    StepShape prefill;
    prefill.prefill_tokens = c.prompt_max;
    prefill.attended_tokens = StepShape::AttendedByChunk(0, c.prompt_max);
    StepShape decode;
    decode.decode_sequences = 1;
    decode.attended_tokens = c.prompt_max;
    c.ttft_target = absl::Seconds(3 * cost.Predict(prefill));
    c.tpot_target = absl::Seconds(3 * cost.Predict(decode));
  }
  return classes;
}

std::vector<SimArrival> SimWorkload(const std::vector<SimClass>& classes,
                                    const std::vector<TenantLoad>& tenants, int64_t n,
                                    uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<SimArrival> out;
  double total_rate = 0;
  for (const TenantLoad& t : tenants) total_rate += t.rate;
  std::exponential_distribution<double> gap(total_rate);
  std::uniform_real_distribution<double> u(0, 1);
  double at = 0;
  for (int64_t i = 0; i < n; ++i) {
    at += gap(rng);
    double pick = u(rng) * total_rate;
    const TenantLoad* tenant = &tenants.back();
    for (const TenantLoad& t : tenants) {
      if (pick < t.rate) {
        tenant = &t;
        break;
      }
      pick -= t.rate;
    }
    double c = u(rng);
    const SimClass* cls = &classes.back();
    for (const SimClass& k : classes) {
      if (c < k.share) {
        cls = &k;
        break;
      }
      c -= k.share;
    }
    SimArrival a;
    a.at = at;
    a.cls = cls->name;
    GenerateRequest& r = a.request;
    r.id = absl::StrCat("r", i);
    r.tenant = tenant->name;
    const auto len = std::uniform_int_distribution<int64_t>(cls->prompt_min, cls->prompt_max)(rng);
    r.prompt_token_ids.assign(static_cast<size_t>(len), 11);
    r.cache_salt = r.id;  // filler prompts, but no shared prefixes
    r.max_tokens = static_cast<int32_t>(
        std::uniform_int_distribution<int64_t>(cls->output_min, cls->output_max)(rng));
    r.ignore_eos = true;
    r.ttft_target = cls->ttft_target;
    r.tpot_target = cls->tpot_target;
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<SimOutcome> Simulate(const std::vector<SimArrival>& arrivals, SchedulerOptions options,
                                 const StepTimeCoefficients& cost, double* elapsed,
                                 SimStepStats* step_stats) {
  ManualClock clock(absl::UnixEpoch());
  SimStepStats unused;
  CostModelEngine engine(clock, cost, step_stats != nullptr ? step_stats : &unused);
  options.step_time_prior = cost;  // the daemon's profiling pass would measure these
  options.max_waiting_requests = 1 << 20;
  options.max_waiting_prompt_tokens = int64_t{1} << 40;
  SchedulerCore core(engine, nullptr, clock, options);
  std::vector<SimOutcome> outcomes(arrivals.size());
  const absl::Time start = clock.Now();
  size_t next = 0;
  while (next < arrivals.size() || !core.idle()) {
    const double now = absl::ToDoubleSeconds(clock.Now() - start);
    while (next < arrivals.size() && arrivals[next].at <= now) {
      GenerateRequest r = arrivals[next].request;
      r.arrival = start + absl::Seconds(arrivals[next].at);
      outcomes[next].cls = arrivals[next].cls;
      outcomes[next].tenant = r.tenant;
      core.Add(std::move(r), std::make_shared<Recorder>(&outcomes[next])).IgnoreError();
      ++next;
    }
    if (core.idle()) {  // nothing to run until the next arrival
      // Past the arrival by a nanosecond: the clock counts whole nanoseconds.
      clock.Advance(absl::Seconds(arrivals[next].at - now) + absl::Nanoseconds(1));
      continue;
    }
    absl::StatusOr<StepReport> step = core.Step();
    if (!step.ok()) {
      std::fprintf(stderr, "step failed: %s\n", step.status().ToString().c_str());
      break;
    }
    if (!step->ran) clock.Advance(absl::Milliseconds(1));  // blocked: let time pass
  }
  *elapsed = absl::ToDoubleSeconds(clock.Now() - start);
  return outcomes;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

SimSummary Summarize(const std::vector<SimOutcome>& outcomes, double elapsed,
                     const std::string& tenant) {
  SimSummary s;
  int64_t n = 0, met = 0;
  std::map<std::string, std::vector<double>> ttft, tpot;
  for (const SimOutcome& o : outcomes) {
    if (!tenant.empty() && o.tenant != tenant) continue;
    ++n;
    met += o.met_both;
    ttft[o.cls].push_back(o.ttft);
    tpot[o.cls].push_back(o.tpot);
  }
  s.attainment = n > 0 ? static_cast<double>(met) / static_cast<double>(n) : 0;
  s.goodput = elapsed > 0 ? static_cast<double>(met) / elapsed : 0;
  for (auto& [c, v] : ttft) s.ttft_p99[c] = Percentile(v, 0.99);
  for (auto& [c, v] : tpot) s.tpot_p99[c] = Percentile(v, 0.99);
  return s;
}

}  // namespace tessera
