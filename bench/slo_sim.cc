// Simulator of the scheduling policies: the real SchedulerCore over an engine whose step takes
// the time a cost model says, on a virtual clock, so that a sweep of loads x policies runs in
// seconds. Prints, per policy and arrival rate, the attainment of both latency targets, goodput
// (requests per second meeting both) and TTFT/TPOT p99 per class; writes gnuplot data and a
// script (and the PNG when gnuplot is installed) with --plot DIR. Asserts nothing.
//
// Workload (the issue's mix): 80% chat (prompts of 64-256 tokens, 48-128 output tokens, tight
// targets) and 20% documents (1024-2048 tokens of prompt, 64-128 output, loose targets); targets
// are 3x each class's solo latency under the cost model. Poisson arrivals.
//
//   slo_sim [--cost-model h100|cpu] [--rates 1,2,4,...] [--requests 2000] [--plot DIR]
//           [--diagnose] [--bound] [--hindsight]
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
#include "absl/strings/str_format.h"
#include "bench/slo_sim_bound.h"
#include "bench/slo_sim_hindsight.h"
#include "bench/slo_sim_run.h"
#include "scheduler/cost_models.h"
#include "scheduler/scheduling_policy.h"

namespace tessera {
namespace {

// Why requests miss: per class, which target they miss, how their TTFT splits into queueing
// and prefill, and what the steps looked like.
void PrintDiagnosis(const std::vector<SimOutcome>& outcomes, const std::vector<SimClass>& classes,
                    const SimStepStats& steps) {
  for (const SimClass& c : classes) {
    int64_t n = 0, miss_ttft_only = 0, miss_tpot_only = 0, miss_both = 0;
    double queue_missed = 0, prefill_missed = 0, queue_all = 0;
    std::vector<double> queue;
    for (const SimOutcome& o : outcomes) {
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

// The lower bound of slo_sim_bound.h over every request, and over all but the tenth whose own
// work (alone) is the largest: an estimate of what 90% attainment needs if the misses cost nothing.
void PrintBound(const std::vector<SimArrival>& arrivals, const StepTimeCoefficients& cost) {
  const WorkBound all = MinimumWork(arrivals, cost);
  std::vector<std::pair<double, size_t>> by_work;
  for (size_t i = 0; i < arrivals.size(); ++i) {
    by_work.emplace_back(MinimumWork({arrivals[i]}, cost).total(), i);
  }
  std::sort(by_work.begin(), by_work.end());
  std::vector<SimArrival> kept;
  for (size_t i = 0; i < by_work.size() - by_work.size() / 10; ++i) {
    kept.push_back(arrivals[by_work[i].second]);
  }
  std::sort(kept.begin(), kept.end(),
            [](const SimArrival& a, const SimArrival& b) { return a.at < b.at; });
  const WorkBound ninety = MinimumWork(kept, cost);
  for (const auto& [name, b] :
       {std::pair<const char*, const WorkBound&>{"all", all}, {"90%", ninety}}) {
    std::printf(
        "  bound %-3s  load >= %.3f: %.2fs prefill + %.2fs decode + %lld steps x %.2fms = %.2fs "
        "over %.2fs\n",
        name, b.load(), b.prefill_seconds, b.decode_seconds, static_cast<long long>(b.min_steps),
        1e3 * cost.constant, b.total(), b.end - b.begin);
  }
}

int RunSweep(const StepTimeCoefficients& cost, const std::vector<double>& rates, int64_t n,
             const std::string& plot_dir, bool diagnose, bool bound, bool hindsight) {
  const std::vector<SimClass> classes = IssueClasses(cost);
  for (const SimClass& c : classes) {
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
  std::map<SchedulingPolicyKind, std::vector<std::pair<double, SimSummary>>> results;
  for (double rate : rates) {
    const std::vector<SimArrival> arrivals = SimWorkload(classes, {{"default", rate}}, n, 1);
    if (bound) PrintBound(arrivals, cost);
    for (SchedulingPolicyKind kind : kinds) {
      SchedulerOptions o;
      o.scheduling_policy = kind;
      o.max_num_batched_tokens = 8192;
      o.max_num_seqs = 256;
      double elapsed = 0;
      SimStepStats steps;
      const std::vector<SimOutcome> outcomes = Simulate(arrivals, o, cost, &elapsed, &steps);
      const SimSummary s = Summarize(outcomes, elapsed);
      results[kind].emplace_back(rate, s);
      std::printf("%-8s %-6.2f %8.1f%% %11.2f %12.0fms %12.1fms %12.0fms %12.1fms\n",
                  std::string(SchedulingPolicyName(kind)).c_str(), rate, 100 * s.attainment,
                  s.goodput, 1e3 * s.ttft_p99.at("chat"), 1e3 * s.tpot_p99.at("chat"),
                  1e3 * s.ttft_p99.at("doc"), 1e3 * s.tpot_p99.at("doc"));
      if (diagnose) PrintDiagnosis(outcomes, classes, steps);
      if (hindsight && kind == SchedulingPolicyKind::kSlo) {
        const HindsightResult h = HindsightAdmission(arrivals, o, cost);
        std::printf(
            "  hindsight: %s refusing %lld of %lld chosen in hindsight meets both targets for "
            "%.1f%% (%lld runs%s)\n",
            std::string(SchedulingPolicyName(kind)).c_str(), static_cast<long long>(h.refused),
            static_cast<long long>(h.total), 100 * h.attainment(), static_cast<long long>(h.runs),
            h.converged ? "" : ", not converged");
      }
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
  const std::vector<SimClass> classes = IssueClasses(cost);
  struct Setup {
    const char* name;
    SchedulingPolicyKind kind;
    FairnessKind fairness;
  };
  const Setup setups[] = {{"fcfs, no fairness", SchedulingPolicyKind::kFcfs, FairnessKind::kNone},
                          {"slo, no fairness", SchedulingPolicyKind::kSlo, FairnessKind::kNone},
                          {"slo + vtc", SchedulingPolicyKind::kSlo, FairnessKind::kVtc}};
  std::printf("tenant 'good' at %.2f req/s; 'noisy' at %.2f req/s\n", rate, 10 * rate);
  std::printf("%-20s %22s %22s %8s %16s\n", "policy", "good chat TTFT p99 alone", "with noisy",
              "ratio", "all: attained, goodput/s");
  for (const Setup& s : setups) {
    SchedulerOptions o;
    o.scheduling_policy = s.kind;
    o.fairness = s.fairness;
    o.max_num_batched_tokens = 8192;
    double e1 = 0, e2 = 0;
    const SimSummary alone =
        Summarize(Simulate(SimWorkload(classes, {{"good", rate}}, n / 10, 2), o, cost, &e1), e1);
    const std::vector<SimOutcome> outcomes =
        Simulate(SimWorkload(classes, {{"good", rate}, {"noisy", 10 * rate}}, n, 2), o, cost, &e2);
    const SimSummary mixed = Summarize(outcomes, e2, "good");
    const double a = alone.ttft_p99.at("chat"), m = mixed.ttft_p99.at("chat");
    // Both tenants together: what fairness costs the server's goodput.
    const SimSummary all = Summarize(outcomes, e2);
    std::printf("%-20s %20.0fms %20.0fms %7.2fx %9.1f%%, %6.2f\n", s.name, 1e3 * a, 1e3 * m,
                a > 0 ? m / a : 0, 100 * all.attainment, all.goodput);
    if (diagnose) {
      // Where the good tenant's chat TTFT goes: waiting to be admitted, then its prefill steps.
      std::vector<double> queue, prefill;
      for (const SimOutcome& out : outcomes) {
        if (out.tenant != "good" || out.cls != "chat") continue;
        queue.push_back(out.queue);
        prefill.push_back(out.ttft - out.queue);
      }
      std::printf(
          "    good chats with noisy: queue p50 %.0fms p99 %.0fms; admission to first token "
          "p50 %.0fms p99 %.0fms;  attained: good %.1f%%, noisy %.1f%%\n",
          1e3 * Percentile(queue, 0.5), 1e3 * Percentile(queue, 0.99),
          1e3 * Percentile(prefill, 0.5), 1e3 * Percentile(prefill, 0.99), 100 * mixed.attainment,
          100 * Summarize(outcomes, e2, "noisy").attainment);
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
  bool bound = false;
  bool hindsight = false;
  double fair_rate = 0;
  app.add_option("--cost-model", model, "h100 (Llama-3-8B, bench/GPU-NOTES.md) or cpu")
      ->check(CLI::IsMember({"h100", "cpu"}));
  app.add_option("--rates", rates, "Arrival rates (req/s) to sweep")->delimiter(',');
  app.add_option("--requests", requests, "Requests per run")->check(CLI::Range(10, 1000000));
  app.add_option("--plot", plot_dir, "Write gnuplot data, script and PNG here");
  app.add_flag("--diagnose", diagnose,
               "Per run: which class misses which target, queueing vs prefill, step sizes");
  app.add_flag("--bound", bound,
               "Per rate: a lower bound on the server's busy share that meeting every target "
               "takes (cost model only)");
  app.add_flag("--hindsight", hindsight,
               "Per rate: slo's attainment when the requests to refuse are chosen in hindsight "
               "(clairvoyant; a run per refused request)");
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
  return tessera::RunSweep(cost, rates, requests, plot_dir, diagnose, bound, hindsight);
}
