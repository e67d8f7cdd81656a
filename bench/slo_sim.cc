// Simulator of the scheduling policies: the real SchedulerCore over an engine whose step takes
// the time a cost model says, on a virtual clock, so that a sweep of loads x policies runs in
// seconds. Prints, per policy and arrival rate, the attainment of both latency targets, goodput
// (requests per second meeting both) and TTFT/TPOT p99 per class; writes gnuplot data and a
// script (and the PNG when gnuplot is installed) with --plot DIR. Asserts nothing.
//
// Workload (the mix): 80% chat (prompts of 64-256 tokens, 48-128 output tokens, tight
// targets) and 20% documents (1024-2048 tokens of prompt, 64-128 output, loose targets); targets
// are 3x each class's solo latency under the cost model. Poisson arrivals.
//
//   slo_sim [--cost-model h100|cpu] [--rates 1,2,4,...] [--requests 2000] [--plot DIR]
//   slo_sim --fairness-test    a well-behaved tenant's p99 TTFT alone, and next to a tenant
//                              sending 10x its share, per policy
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/engine.h"
#include "scheduler/clock.h"
#include "scheduler/cost_models.h"
#include "scheduler/plan_shape.h"
#include "scheduler/scheduler_core.h"
#include "scheduler/scheduling_policy.h"

namespace tessera {
namespace {

// An engine that only takes time: each step advances the clock by the cost model's prediction
// for its shape and samples token 7 (requests ignore EOS, so each runs to max_tokens).
// What the engine's steps were, for --diagnose.
struct StepStats {
  int64_t steps = 0, prefill_steps = 0, prefill_tokens = 0, decodes = 0;
  double seconds = 0, prefill_step_seconds = 0, max_step = 0;
};

class CostModelEngine final : public Engine {
 public:
  CostModelEngine(ManualClock& clock, StepTimeCoefficients cost, StepStats* stats)
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
  StepStats* stats_;
  ModelConfig config_;
};

struct Class {
  std::string name;
  double share;
  int64_t prompt_min, prompt_max, output_min, output_max;
  absl::Duration ttft_target, tpot_target;
};

// Targets at 3x the class's solo latency: its longest prompt alone, one decode alone.
std::vector<Class> Classes(const StepTimeCoefficients& cost) {
  std::vector<Class> classes = {{"chat", 0.8, 64, 256, 48, 128, {}, {}},
                                {"doc", 0.2, 1024, 2048, 64, 128, {}, {}}};
  for (Class& c : classes) {
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

struct Outcome {
  std::string cls, tenant;
  bool finished = false;
  bool met_both = false, met_ttft = false, met_tpot = false;
  double ttft = 0, tpot = 0, queue = 0;
};

class Recorder final : public RequestSink {
 public:
  explicit Recorder(Outcome* out) : out_(out) {}
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
  Outcome* out_;
};

struct Arrival {
  double at;
  GenerateRequest request;
  std::string cls;
};

struct TenantLoad {
  std::string name;
  double rate;
};

std::vector<Arrival> Workload(const std::vector<Class>& classes,
                              const std::vector<TenantLoad>& tenants, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Arrival> out;
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
    const Class* cls = &classes.back();
    for (const Class& k : classes) {
      if (c < k.share) {
        cls = &k;
        break;
      }
      c -= k.share;
    }
    Arrival a;
    a.at = at;
    a.cls = cls->name;
    GenerateRequest& r = a.request;
    r.id = absl::StrCat("r", i);
    r.tenant = tenant->name;
    const auto len = std::uniform_int_distribution<int64_t>(cls->prompt_min, cls->prompt_max)(rng);
    r.prompt_token_ids.assign(static_cast<size_t>(len), 11);
    r.max_tokens = static_cast<int32_t>(
        std::uniform_int_distribution<int64_t>(cls->output_min, cls->output_max)(rng));
    r.ignore_eos = true;
    r.ttft_target = cls->ttft_target;
    r.tpot_target = cls->tpot_target;
    out.push_back(std::move(a));
  }
  return out;
}

// Runs `arrivals` through a SchedulerCore with `options` to the end; one Outcome per request.
std::vector<Outcome> Simulate(const std::vector<Arrival>& arrivals, SchedulerOptions options,
                              const StepTimeCoefficients& cost, double* elapsed,
                              StepStats* step_stats = nullptr) {
  ManualClock clock(absl::UnixEpoch());
  StepStats unused;
  CostModelEngine engine(clock, cost, step_stats != nullptr ? step_stats : &unused);
  options.step_time_prior = cost;  // the daemon's profiling pass would measure these
  options.max_waiting_requests = 1 << 20;
  options.max_waiting_prompt_tokens = int64_t{1} << 40;
  SchedulerCore core(engine, nullptr, clock, options);
  std::vector<Outcome> outcomes(arrivals.size());
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

struct Summary {
  double attainment = 0, goodput = 0;
  std::map<std::string, double> ttft_p99, tpot_p99;
};

Summary Summarize(const std::vector<Outcome>& outcomes, double elapsed,
                  const std::string& tenant = "") {
  Summary s;
  int64_t n = 0, met = 0;
  std::map<std::string, std::vector<double>> ttft, tpot;
  for (const Outcome& o : outcomes) {
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

// Why requests miss: per class, which target they miss, how their TTFT splits into queueing
// and prefill, and what the steps looked like.
void PrintDiagnosis(const std::vector<Outcome>& outcomes, const std::vector<Class>& classes,
                    const StepStats& steps) {
  for (const Class& c : classes) {
    int64_t n = 0, miss_ttft_only = 0, miss_tpot_only = 0, miss_both = 0;
    double queue_missed = 0, prefill_missed = 0, queue_all = 0;
    std::vector<double> queue;
    for (const Outcome& o : outcomes) {
      if (o.cls != c.name) continue;
      ++n;
      queue_all += o.queue;
      queue.push_back(o.queue);
      if (!o.met_ttft && !o.met_tpot) ++miss_both;
      if (!o.met_ttft && o.met_tpot) ++miss_ttft_only;
      if (o.met_ttft && !o.met_tpot) ++miss_tpot_only;
      if (!o.met_ttft) {
        queue_missed += o.queue;
        prefill_missed += o.ttft - o.queue;
      }
    }
    const int64_t missed_ttft = miss_ttft_only + miss_both;
    const auto pct = [n](int64_t k) { return n > 0 ? 100.0 * static_cast<double>(k) / n : 0; };
    std::printf(
        "    %-5s n=%lld  miss TTFT only %.1f%%, TPOT only %.1f%%, both %.1f%%;  queue mean %.0fms "
        "p50 %.0fms p99 %.0fms;  TTFT misses: queue %.0fms + prefill %.0fms (means)\n",
        c.name.c_str(), static_cast<long long>(n), pct(miss_ttft_only), pct(miss_tpot_only),
        pct(miss_both), n > 0 ? 1e3 * queue_all / n : 0, 1e3 * Percentile(queue, 0.5),
        1e3 * Percentile(queue, 0.99), missed_ttft > 0 ? 1e3 * queue_missed / missed_ttft : 0,
        missed_ttft > 0 ? 1e3 * prefill_missed / missed_ttft : 0);
  }
  const double k = static_cast<double>(std::max<int64_t>(1, steps.steps));
  std::printf(
      "    steps %lld: mean %.1fms (max %.1fms), %.0f decodes;  with prefill %.0f%% of them, mean "
      "%.1fms, %.0f prefill tokens\n",
      static_cast<long long>(steps.steps), 1e3 * steps.seconds / k, 1e3 * steps.max_step,
      static_cast<double>(steps.decodes) / k, 100.0 * static_cast<double>(steps.prefill_steps) / k,
      steps.prefill_steps > 0 ? 1e3 * steps.prefill_step_seconds / steps.prefill_steps : 0,
      steps.prefill_steps > 0 ? static_cast<double>(steps.prefill_tokens) / steps.prefill_steps
                              : 0);
}

int RunSweep(const StepTimeCoefficients& cost, const std::vector<double>& rates, int64_t n,
             const std::string& plot_dir, bool diagnose) {
  const std::vector<Class> classes = Classes(cost);
  for (const Class& c : classes) {
    std::printf(
        "class %-5s %3.0f%%  prompt %lld-%lld  output %lld-%lld  TTFT target %s  TPOT "
        "target %s\n",
        c.name.c_str(), c.share * 100, static_cast<long long>(c.prompt_min),
        static_cast<long long>(c.prompt_max), static_cast<long long>(c.output_min),
        static_cast<long long>(c.output_max), absl::FormatDuration(c.ttft_target).c_str(),
        absl::FormatDuration(c.tpot_target).c_str());
  }
  const SchedulingPolicyKind kinds[] = {SchedulingPolicyKind::kFcfs, SchedulingPolicyKind::kSlo};
  std::printf("\n%-8s %-6s %9s %11s %14s %14s %14s %14s\n", "policy", "rate", "attained",
              "goodput/s", "chat TTFT p99", "chat TPOT p99", "doc TTFT p99", "doc TPOT p99");
  std::map<SchedulingPolicyKind, std::vector<std::pair<double, Summary>>> results;
  for (double rate : rates) {
    const std::vector<Arrival> arrivals = Workload(classes, {{"default", rate}}, n, 1);
    for (SchedulingPolicyKind kind : kinds) {
      SchedulerOptions o;
      o.scheduling_policy = kind;
      o.max_num_batched_tokens = 8192;
      o.max_num_seqs = 256;
      double elapsed = 0;
      StepStats steps;
      const std::vector<Outcome> outcomes = Simulate(arrivals, o, cost, &elapsed, &steps);
      const Summary s = Summarize(outcomes, elapsed);
      results[kind].emplace_back(rate, s);
      std::printf("%-8s %-6.2f %8.1f%% %11.2f %12.0fms %12.1fms %12.0fms %12.1fms\n",
                  std::string(SchedulingPolicyName(kind)).c_str(), rate, 100 * s.attainment,
                  s.goodput, 1e3 * s.ttft_p99.at("chat"), 1e3 * s.tpot_p99.at("chat"),
                  1e3 * s.ttft_p99.at("doc"), 1e3 * s.tpot_p99.at("doc"));
      if (diagnose) PrintDiagnosis(outcomes, classes, steps);
    }
  }
  // The goal's comparison: at the highest rate where fcfs still meets both targets for at least
  // half the requests, slo's attainment and goodput there.
  const auto& fcfs = results[SchedulingPolicyKind::kFcfs];
  const auto& slo = results[SchedulingPolicyKind::kSlo];
  for (size_t i = fcfs.size(); i-- > 0;) {
    if (fcfs[i].second.attainment >= 0.5) {
      std::printf(
          "\nat %.2f req/s, the highest rate where fcfs attains >= 50%%: fcfs %.1f%%, slo %.1f%%; "
          "goodput slo/fcfs = %.2fx\n",
          fcfs[i].first, 100 * fcfs[i].second.attainment, 100 * slo[i].second.attainment,
          fcfs[i].second.goodput > 0 ? slo[i].second.goodput / fcfs[i].second.goodput : 0.0);
      break;
    }
  }
  if (!plot_dir.empty()) {
    std::filesystem::create_directories(plot_dir);
    const std::string dat = plot_dir + "/slo_sim.dat";
    std::ofstream f(dat);
    f << "# rate fcfs_attainment fcfs_goodput slo_attainment slo_goodput\n";
    for (size_t i = 0; i < fcfs.size(); ++i) {
      f << fcfs[i].first << " " << fcfs[i].second.attainment << " " << fcfs[i].second.goodput << " "
        << slo[i].second.attainment << " " << slo[i].second.goodput << "\n";
    }
    f.close();  // gnuplot reads it below
    std::ofstream gp(plot_dir + "/slo_sim.gp");
    gp << "set terminal png size 1000,420\nset output '" << plot_dir << "/slo_sim.png'\n"
       << "set multiplot layout 1,2\nset xlabel 'arrival rate (req/s)'\nset key bottom left\n"
       << "set ylabel 'attainment of both targets'\nset yrange [0:1]\n"
       << "plot '" << dat << "' u 1:2 w lp t 'fcfs', '' u 1:4 w lp t 'slo'\n"
       << "set ylabel 'goodput (req/s)'\nset autoscale y\n"
       << "plot '" << dat << "' u 1:3 w lp t 'fcfs', '' u 1:5 w lp t 'slo'\nunset multiplot\n";
    gp.close();
    const std::string cmd = "gnuplot " + plot_dir + "/slo_sim.gp 2>/dev/null";
    const bool plotted = std::system(cmd.c_str()) == 0;
    std::printf("plot data: %s; %s\n", dat.c_str(),
                plotted ? (plot_dir + "/slo_sim.png written").c_str()
                        : "no PNG (gnuplot failed or is not installed: Debian gnuplot-nox)");
  }
  return 0;
}

// A well-behaved tenant at `rate` alone, then next to a tenant sending 10x as much.
int RunFairness(const StepTimeCoefficients& cost, double rate, int64_t n, bool diagnose) {
  const std::vector<Class> classes = Classes(cost);
  struct Setup {
    const char* name;
    SchedulingPolicyKind kind;
    FairnessKind fairness;
  };
  const Setup setups[] = {{"fcfs, no fairness", SchedulingPolicyKind::kFcfs, FairnessKind::kNone},
                          {"slo, no fairness", SchedulingPolicyKind::kSlo, FairnessKind::kNone},
                          {"slo + vtc", SchedulingPolicyKind::kSlo, FairnessKind::kVtc}};
  std::printf("tenant 'good' at %.2f req/s; 'noisy' at %.2f req/s\n", rate, 10 * rate);
  std::printf("%-20s %22s %22s %8s\n", "policy", "good chat TTFT p99 alone", "with noisy", "ratio");
  for (const Setup& s : setups) {
    SchedulerOptions o;
    o.scheduling_policy = s.kind;
    o.fairness = s.fairness;
    o.max_num_batched_tokens = 8192;
    double e1 = 0, e2 = 0;
    const Summary alone =
        Summarize(Simulate(Workload(classes, {{"good", rate}}, n / 10, 2), o, cost, &e1), e1);
    const std::vector<Outcome> outcomes =
        Simulate(Workload(classes, {{"good", rate}, {"noisy", 10 * rate}}, n, 2), o, cost, &e2);
    const Summary mixed = Summarize(outcomes, e2, "good");
    const double a = alone.ttft_p99.at("chat"), m = mixed.ttft_p99.at("chat");
    std::printf("%-20s %20.0fms %20.0fms %7.2fx\n", s.name, 1e3 * a, 1e3 * m, a > 0 ? m / a : 0);
    if (diagnose) {
      // Where the good tenant's chat TTFT goes: waiting to be admitted, then its prefill steps.
      std::vector<double> queue, prefill;
      for (const Outcome& out : outcomes) {
        if (out.tenant != "good" || out.cls != "chat") continue;
        queue.push_back(out.queue);
        prefill.push_back(out.ttft - out.queue);
      }
      std::printf(
          "    good chats with noisy: queue p50 %.0fms p99 %.0fms; admission to first token "
          "p50 %.0fms p99 %.0fms\n",
          1e3 * Percentile(queue, 0.5), 1e3 * Percentile(queue, 0.99),
          1e3 * Percentile(prefill, 0.5), 1e3 * Percentile(prefill, 0.99));
    }
  }
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  CLI::App app("Scheduling policies on a simulated engine (virtual clock)");
  std::string model = "h100";
  std::vector<double> rates;
  int64_t requests = 2000;
  std::string plot_dir;
  bool fairness = false;
  bool diagnose = false;
  double fair_rate = 0;
  app.add_option("--cost-model", model, "h100 (Llama-3-8B, bench/GPU-NOTES.md) or cpu")
      ->check(CLI::IsMember({"h100", "cpu"}));
  app.add_option("--rates", rates, "Arrival rates (req/s) to sweep")->delimiter(',');
  app.add_option("--requests", requests, "Requests per run")->check(CLI::Range(10, 1000000));
  app.add_option("--plot", plot_dir, "Write gnuplot data, script and PNG here");
  app.add_flag("--diagnose", diagnose,
               "Per run: which class misses which target, queueing vs prefill, step sizes");
  app.add_flag("--fairness-test", fairness, "The noisy-tenant experiment instead of the sweep");
  app.add_option("--fairness-rate", fair_rate, "The well-behaved tenant's rate (req/s)");
  CLI11_PARSE(app, argc, argv);
  const tessera::StepTimeCoefficients cost =
      model == "h100" ? tessera::H100Llama3_8bCostModel() : tessera::CpuLlamaSmallCostModel();
  if (fairness) {
    return tessera::RunFairness(cost, fair_rate > 0 ? fair_rate : (model == "h100" ? 2.0 : 0.05),
                                requests, diagnose);
  }
  if (rates.empty()) {
    rates = model == "h100" ? std::vector<double>{5, 10, 15, 20, 25, 30, 40, 50, 60}
                            : std::vector<double>{0.05, 0.1, 0.2, 0.3, 0.4, 0.6};
  }
  return tessera::RunSweep(cost, rates, requests, plot_dir, diagnose);
}
