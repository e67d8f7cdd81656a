// Multi-LoRA serving on the CUDA engine, synthetic Llama shapes (random weights on the device,
// random adapters on the host):
//
//   throughput: --requests requests (--prompt random tokens, exactly --new-tokens generated each)
//     go through a SchedulerCore over the engine (real admission, adapter slots and adapter
//     loads; no gRPC), all queued at once: generated tokens/s over the whole run, prefill
//     included, for each adapter count N of --adapters (0: base model only). Each request picks
//     its adapter from the N by a power law (Zipf, --zipf-alpha, seeded) and each adapter's rank
//     is drawn from --ranks (bench/lora_workload.h). Median of --reps runs; the cases take turns
//     run by run, so that drift in clocks spreads over all of them. Goal (issue): with 1000
//     adapters, at least 85% of base-only throughput.
//   load latency: a rank --latency-rank adapter on all seven projections made resident in a slot
//     (SetAdapter into KV blocks sized by AdapterKvBlocks, then a device-wide sync), once the
//     throughput scheduler is gone: from host memory (the host cache's case; goal for the 8B
//     shape: under 5 ms) and from a PEFT directory (LoadPeftAdapter + SetAdapter + sync;
//     first read after the files were dropped from the page cache, then warm reads).
//
// Why --targets defaults to q,k,v,o: the adapters are held as fp32 on the host, as the server's
// host cache holds them, and an all-seven-module adapter of the 8B shape averages ~315 MB at the
// default ranks (mean 30): 1000 would be ~315 GB (q,k,v,o: ~100 MB each, ~100 GB). Only the
// adapters some request draws are made (512 requests draw ~210 of 1000).
// Why the 8B shape stops at 100 adapters by default (--adapters-8b): the shared GPU call's time.
// 1000 would add ~22 GB of host fp32 (fine on the 128 GB host) and three more ~8 s runs; pass
// --adapters-8b 0,1,100,1000 to measure it.
//
// Expected runtime with the defaults on an H100: ~2 minutes (1B: 4 cases x 3 runs of ~2 s; 8B:
// 3 x 3 runs of ~7 s; engines, adapters, warm-ups and load latencies ~30 s). Runs that would
// pass --time-budget are skipped (exit code 2) and a run past --run-timeout is aborted (exit 1),
// so a slow or broken engine cannot make it hang. --dry-run makes the adapters and times the
// PEFT parsing without a GPU.
//
//   lora_bench [--shape 1b,8b] [--adapters 0,1,100,1000] [--adapters-8b 0,1,100]
//              [--ranks 8,16,32,64] [--targets q,k,v,o] [--requests 512] [--prompt 128]
//              [--new-tokens 64] [--batch 64] [--max-loras 128] [--reps 3] [--dry-run]
#include <cuda_runtime_api.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "adapters/peft_loader.h"
#include "bench/lora_throughput_run.h"
#include "bench/lora_workload.h"
#include "bench/synthetic_lora.h"
#include "bench/synthetic_shapes.h"
#include "engine/cuda/cuda_engine.h"

namespace tessera {
namespace {

constexpr int kExitFailed = 1;   // something failed; the log says what
constexpr int kExitSkipped = 2;  // all that ran worked, but --time-budget cut runs

// The exit code of two parts together: a failure outweighs a skip.
int Worse(int a, int b) {
  return a == kExitFailed || b == kExitFailed ? kExitFailed : std::max(a, b);
}
constexpr double kThroughputGoal = 0.85;  // of base-only, with 1000 adapters
constexpr double kResidentGoalMs = 5;     // rank-16 adapter, 8B shape, host -> device

struct Settings {
  std::vector<std::string> shapes{"1b", "8b"};
  std::vector<int32_t> adapters{0, 1, 100, 1000};
  std::vector<int32_t> adapters_8b{0, 1, 100};
  std::vector<int32_t> ranks{8, 16, 32, 64};
  std::string targets = "q,k,v,o";
  int32_t requests = 512;
  int32_t prompt = 128;
  int32_t new_tokens = 64;
  int32_t batch = 64;
  int32_t max_loras = 128;
  int32_t step_tokens = 2048;
  double zipf_alpha = 1.0;
  int32_t reps = 3;
  uint64_t seed = 1;
  int threads = 0;
  double max_host_gb = 64;
  double time_budget_s = 220;
  double run_timeout_s = 60;
  bool latency = true;
  int32_t latency_rank = 16;
  int32_t latency_reps = 20;
  int32_t disk_reps = 5;
  std::string latency_dir;
  bool cuda_graphs = false;
  bool dry_run = false;
};

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double P90(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, v.size() * 9 / 10)];
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// The wall-clock allowance of the whole benchmark.
struct Budget {
  double start = Now();
  double limit_s = 0;
  bool Allows(double estimate_s) const { return Now() - start + estimate_s <= limit_s; }
};

struct Case {
  LoraWorkload workload;
  std::vector<ThroughputRunFigures> runs;
  std::string error;  // set: the case failed, or could not be prepared
  double MedianTokensPerSecond() const {
    std::vector<double> v;
    for (const ThroughputRunFigures& r : runs) v.push_back(r.TokensPerSecond());
    return Median(v);
  }
};

// Makes the adapters of every case (before anything is timed), printing what each drew.
std::vector<Case> PrepareCases(const ModelConfig& config, const std::vector<int32_t>& counts,
                               const std::vector<LoraModule>& targets, const Settings& s,
                               bool engine_serves_adapters) {
  std::vector<Case> cases(counts.size());
  int64_t host_left = static_cast<int64_t>(s.max_host_gb * 1e9);
  for (size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] > 0 && !engine_serves_adapters) {
      cases[c].error = "the engine has no adapter slots (num_adapter_slots() is 0)";
      continue;
    }
    LoraWorkloadOptions o;
    o.num_adapters = counts[c];
    o.num_requests = s.requests;
    o.zipf_alpha = s.zipf_alpha;
    o.ranks = s.ranks;
    o.targets = targets;
    o.seed = s.seed;
    o.threads = s.threads;
    o.max_host_bytes = host_left;
    absl::StatusOr<LoraWorkload> w = MakeLoraWorkload(config, o);
    if (!w.ok()) {
      cases[c].error = Message(w.status());
      std::printf("  %5d adapters: not prepared: %s\n", counts[c], cases[c].error.c_str());
      continue;
    }
    host_left -= w->host_bytes;
    if (counts[c] > 0) {
      std::vector<std::string> hist;
      for (const auto& [rank, n] : w->ranks) hist.push_back(absl::StrCat(rank, ":", n));
      std::printf(
          "  %5d adapters: %4d distinct drawn by %d requests (rank:count %s), "
          "%.2f GB of host fp32 made in %.2f s\n",
          counts[c], w->distinct, s.requests, absl::StrJoin(hist, " ").c_str(), w->host_bytes / 1e9,
          w->make_seconds);
    }
    cases[c].workload = *std::move(w);
  }
  return cases;
}

// Runs every prepared case --reps times, taking turns; returns the exit code so far.
int RunCases(Engine& engine, std::vector<Case>& cases, const Settings& s, const Budget& budget) {
  const ModelConfig& config = engine.config();
  const std::vector<std::vector<int32_t>> prompts =
      RandomPrompts(config, s.requests, s.prompt, s.seed);
  ThroughputRunOptions o;
  o.num_requests = s.requests;
  o.new_tokens = s.new_tokens;
  o.max_num_seqs = s.batch;
  o.max_num_batched_tokens = s.step_tokens;
  o.timeout_s = s.run_timeout_s;
  // Warm-up (cuBLAS heuristics, allocations, LoRA kernels): one batch of 8 new tokens each, with
  // the adapters of the largest prepared case.
  const Case* warm = nullptr;
  for (const Case& c : cases) {
    if (c.error.empty() &&
        (warm == nullptr || c.workload.num_adapters > warm->workload.num_adapters))
      warm = &c;
  }
  if (warm == nullptr) return kExitFailed;
  ThroughputRunOptions wo = o;
  wo.num_requests = std::min(s.batch, s.requests);
  wo.new_tokens = 8;
  const double w0 = Now();
  absl::StatusOr<ThroughputRunFigures> warmup = RunThroughput(engine, warm->workload, prompts, wo);
  const double warm_s = Now() - w0;
  if (!warmup.ok()) {
    std::printf("  warm-up (%d adapters) FAILED: %s\n", warm->workload.num_adapters,
                Message(warmup.status()).c_str());
    return kExitFailed;
  }
  std::printf("  warm-up: %d requests x 8 tokens, %d adapters, %.2f s\n", wo.num_requests,
              warm->workload.num_adapters, warm_s);
  // An upper estimate of one run until one has run: the warm-up scaled by its token count
  // (it counts the prefill too often).
  double estimate = warm_s * std::max(1, s.requests / std::max(1, wo.num_requests)) * s.new_tokens /
                    static_cast<double>(wo.new_tokens);
  double longest = 0;
  int rc = 0;
  for (int32_t rep = 0; rep < s.reps; ++rep) {
    for (Case& c : cases) {
      const int32_t n = c.workload.num_adapters;
      if (!c.error.empty()) continue;
      if (!budget.Allows(estimate)) {
        std::printf(
            "  %5d adapters, run %d: skipped: ~%.0f s more would pass --time-budget %.0f s\n", n,
            rep + 1, estimate, budget.limit_s);
        rc = Worse(rc, kExitSkipped);
        continue;
      }
      absl::StatusOr<ThroughputRunFigures> f = RunThroughput(engine, c.workload, prompts, o);
      if (!f.ok()) {
        c.error = Message(f.status());
        std::printf("  %5d adapters, run %d: FAILED: %s\n", n, rep + 1, c.error.c_str());
        rc = kExitFailed;
        continue;
      }
      std::printf(
          "  %5d adapters, run %d: %9.1f tok/s  %.2f s  %lld steps  %lld loads  "
          "%lld preemptions\n",
          n, rep + 1, f->TokensPerSecond(), f->seconds, static_cast<long long>(f->steps),
          static_cast<long long>(f->loads), static_cast<long long>(f->preemptions));
      longest = std::max(longest, f->seconds);
      estimate = longest * 1.2;
      c.runs.push_back(*f);
    }
  }
  return rc;
}

// The table of one shape, and its lines for the final summary.
void PrintTable(const std::string& shape, const std::vector<int32_t>& counts,
                const std::vector<Case>& cases, std::vector<std::string>* summary) {
  double base = 0;
  for (const Case& c : cases) {
    if (c.workload.num_adapters == 0 && c.error.empty() && !c.runs.empty())
      base = c.MedianTokensPerSecond();
  }
  std::printf("  %8s %8s %6s %5s %12s %23s %8s\n", "adapters", "distinct", "loads", "runs",
              "tok/s (med)", "min .. max", "vs base");
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    if (c.runs.empty() || !c.error.empty()) {
      const std::string why = c.error.empty() ? "no run fitted the time budget" : c.error;
      std::printf("  %8d  not measured: %s\n", counts[i], why.c_str());
      summary->push_back(
          absl::StrFormat("%-13s %5d adapters: not measured: %s", shape, counts[i], why));
      continue;
    }
    double lo = 1e300, hi = 0;
    for (const ThroughputRunFigures& r : c.runs) {
      lo = std::min(lo, r.TokensPerSecond());
      hi = std::max(hi, r.TokensPerSecond());
    }
    const double med = c.MedianTokensPerSecond();
    const std::string ratio = base > 0 ? absl::StrFormat("%.3f", med / base) : "-";
    std::printf("  %8d %8d %6lld %5zu %12.1f %11.1f .. %-9.1f %8s\n", counts[i],
                c.workload.distinct, static_cast<long long>(c.runs[0].loads), c.runs.size(), med,
                lo, hi, ratio.c_str());
    std::string line = absl::StrFormat(
        "%-13s %5d adapters (%d distinct, %lld loads): %9.1f tok/s, "
        "%s of base-only",
        shape, counts[i], c.workload.distinct, static_cast<long long>(c.runs[0].loads), med, ratio);
    if (counts[i] == 1000 && base > 0) {
      absl::StrAppendFormat(&line, " (goal >= %.2f: %s)", kThroughputGoal,
                            med / base >= kThroughputGoal ? "MET" : "NOT MET");
    }
    summary->push_back(line);
  }
}

// Times making `weights` resident in slot 0: SetAdapter, then a wait for the whole device (the
// engine loads on a copy stream of its own, which Synchronize, the compute stream's, does not
// wait for). Alternates between two block ranges, so that a load never writes the blocks of the
// adapter it replaces.
class ResidencyTimer {
 public:
  ResidencyTimer(CudaEngine& engine, int32_t blocks_per_adapter) : engine_(engine) {
    for (int r = 0; r < 2; ++r) {
      for (int32_t b = 0; b < blocks_per_adapter; ++b)
        blocks_[r].push_back(r * blocks_per_adapter + b);
    }
  }
  absl::StatusOr<double> LoadMs(std::shared_ptr<const LoraWeights> weights) {
    const double t0 = Now();
    if (absl::Status s = engine_.SetAdapter(0, std::move(weights), blocks_[next_]); !s.ok())
      return s;
    // Waits for the compute stream and the engine's adapter copy stream.
    if (absl::Status s = engine_.Synchronize(); !s.ok()) return s;
    next_ ^= 1;
    return (Now() - t0) * 1e3;
  }

 private:
  CudaEngine& engine_;
  std::vector<int32_t> blocks_[2];
  int next_ = 0;
};

// Load latency of one adapter (see the file comment). `engine` null: the disk part's parsing only
// (--dry-run). Returns an exit code.
int RunLoadLatency(CudaEngine* engine, const ModelConfig& config, const std::string& shape,
                   const Settings& s, std::vector<std::string>* summary) {
  SyntheticLoraSpec spec;
  spec.rank = s.latency_rank;
  spec.targets = *ParseLoraTargets("all");
  spec.seed = 101;
  std::shared_ptr<const LoraWeights> w[2] = {RandomLoraWeights(config, spec), nullptr};
  spec.seed = 102;
  w[1] = RandomLoraWeights(config, spec);
  const double mb_fp32 = w[0]->num_bytes() / 1e6;
  std::printf(
      "  adapter: rank %d on all 7 projections, %.1f MB as bf16 (%.1f MB fp32 on the host)\n",
      s.latency_rank, mb_fp32 / 2, mb_fp32);
  std::unique_ptr<ResidencyTimer> timer;
  if (engine != nullptr) {
    if (engine->num_adapter_slots() == 0) {
      std::printf("  load latency: skipped: the engine has no adapter slots\n");
      summary->push_back(absl::StrCat(shape, " load latency: the engine has no adapter slots"));
      return kExitFailed;
    }
    absl::StatusOr<int32_t> blocks = engine->AdapterKvBlocks(*w[0]);
    if (!blocks.ok()) {
      std::printf("  AdapterKvBlocks FAILED: %s\n", Message(blocks.status()).c_str());
      return kExitFailed;
    }
    if (2 * int64_t{*blocks} > engine->kv_geometry().num_blocks) {
      std::printf("  load latency: the adapter needs %d KV blocks, twice that is over the pool\n",
                  *blocks);
      return kExitFailed;
    }
    // The throughput scheduler is gone, but its adapters may still sit in slots whose blocks are
    // about to be reused: empty every slot first.
    for (int32_t slot = 0; slot < engine->num_adapter_slots(); ++slot) {
      if (absl::Status st = engine->SetAdapter(slot, nullptr, {}); !st.ok()) {
        std::printf("  emptying slot %d FAILED: %s\n", slot, Message(st).c_str());
        return kExitFailed;
      }
    }
    if (absl::Status st = engine->Synchronize(); !st.ok()) {
      std::printf("  Synchronize FAILED: %s\n", Message(st).c_str());
      return kExitFailed;
    }
    std::printf("  %d KV blocks per adapter\n", *blocks);
    timer = std::make_unique<ResidencyTimer>(*engine, *blocks);
    std::vector<double> ms;
    double first = 0;
    for (int32_t i = 0; i <= s.latency_reps; ++i) {
      absl::StatusOr<double> t = timer->LoadMs(w[i % 2]);
      if (!t.ok()) {
        std::printf("  host -> device FAILED: %s\n", Message(t.status()).c_str());
        return kExitFailed;
      }
      if (i == 0) {
        first = *t;
      } else {
        ms.push_back(*t);
      }
    }
    const double med = Median(ms);
    std::string line = absl::StrFormat(
        "host -> device: first %.2f ms, median %.2f ms (p90 %.2f, min %.2f) over %d, "
        "%.1f GB/s of bf16",
        first, med, P90(ms), *std::min_element(ms.begin(), ms.end()), s.latency_reps,
        mb_fp32 / 2 / med);
    if (config.hidden_size == 4096 && s.latency_rank == 16) {
      absl::StrAppendFormat(&line, " (goal < %.0f ms: %s)", kResidentGoalMs,
                            med < kResidentGoalMs ? "MET" : "NOT MET");
    }
    std::printf("  %s\n", line.c_str());
    summary->push_back(absl::StrFormat("%-13s rank-%d adapter %s", shape, s.latency_rank, line));
  }

  // Disk: a PEFT directory of w[0], bf16, first read cold (dropped from the page cache).
  const bool temp = s.latency_dir.empty();
  const std::string dir = temp ? absl::StrCat(std::filesystem::temp_directory_path().string(),
                                              "/lora_bench-", getpid(), "-", shape)
                               : absl::StrCat(s.latency_dir, "/", shape);
  const double t0 = Now();
  if (absl::Status st = WritePeftAdapterDir(dir, *w[0]); !st.ok()) {
    std::printf("  writing %s FAILED: %s\n", dir.c_str(), Message(st).c_str());
    return kExitFailed;
  }
  std::printf("  wrote the PEFT directory %s in %.2f s\n", dir.c_str(), Now() - t0);
  PeftLoadOptions po;
  po.max_lora_rank = std::max(64, s.latency_rank);
  std::vector<double> total_ms, parse_ms;
  int rc = 0;
  for (int32_t i = 0; i <= s.disk_reps; ++i) {
    const double a = Now();
    absl::StatusOr<PeftAdapter> adapter = LoadPeftAdapter(dir, config, po);
    const double b = Now();
    if (!adapter.ok()) {
      std::printf("  LoadPeftAdapter FAILED: %s\n", Message(adapter.status()).c_str());
      rc = kExitFailed;
      break;
    }
    double resident = 0;
    if (timer != nullptr) {
      absl::StatusOr<double> t = timer->LoadMs(adapter->weights);
      if (!t.ok()) {
        std::printf("  disk -> device FAILED: %s\n", Message(t.status()).c_str());
        rc = kExitFailed;
        break;
      }
      resident = *t;
    }
    parse_ms.push_back((b - a) * 1e3);
    total_ms.push_back((b - a) * 1e3 + resident);
  }
  if (!total_ms.empty()) {
    const std::vector<double> warm_total(total_ms.begin() + 1, total_ms.end());
    const std::vector<double> warm_parse(parse_ms.begin() + 1, parse_ms.end());
    const std::string line = absl::StrFormat(
        "disk -> %s: cold %.1f ms (LoadPeftAdapter %.1f), warm median %.1f ms "
        "(LoadPeftAdapter %.1f) over %d",
        timer != nullptr ? "device" : "host (dry run)", total_ms[0], parse_ms[0],
        Median(warm_total), Median(warm_parse), s.disk_reps);
    std::printf("  %s\n", line.c_str());
    summary->push_back(absl::StrFormat("%-13s rank-%d adapter %s", shape, s.latency_rank, line));
  }
  if (engine != nullptr) (void)engine->SetAdapter(0, nullptr, {});
  if (temp) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return rc;
}

// One shape: its engine, throughput cases and load latency. Returns an exit code.
int RunShape(const std::string& short_name, const Settings& s, const Budget& budget,
             std::vector<std::string>* summary) {
  const std::string shape = short_name == "1b"   ? "llama-3.2-1b"
                            : short_name == "8b" ? "llama-3-8b"
                                                 : short_name;
  absl::StatusOr<ModelConfig> config = SyntheticShape(shape);
  if (!config.ok()) {
    std::printf("--shape: %s\n", Message(config.status()).c_str());
    return kExitFailed;
  }
  const std::vector<int32_t>& counts = shape == "llama-3-8b" ? s.adapters_8b : s.adapters;
  absl::StatusOr<std::vector<LoraModule>> targets = ParseLoraTargets(s.targets);
  if (!targets.ok()) {
    std::printf("--targets: %s\n", Message(targets.status()).c_str());
    return kExitFailed;
  }
  std::printf(
      "== %s: %d requests x (%d prompt + %d new tokens), batch %d, step %d tokens, "
      "max_loras %d, targets %s, ranks %s, Zipf alpha %.2f\n",
      shape.c_str(), s.requests, s.prompt, s.new_tokens, s.batch, s.step_tokens, s.max_loras,
      s.targets.c_str(), absl::StrJoin(s.ranks, ",").c_str(), s.zipf_alpha);
  if (s.dry_run) {
    (void)PrepareCases(*config, counts, *targets, s, true);
    return s.latency ? RunLoadLatency(nullptr, *config, shape, s, summary) : 0;
  }
  CudaEngineOptions o;
  o.max_num_tokens = s.step_tokens;
  o.max_num_seqs = s.batch;
  o.max_loras = s.max_loras;
  o.max_lora_rank = std::max(s.latency_rank, *std::max_element(s.ranks.begin(), s.ranks.end()));
  o.cuda_graphs = s.cuda_graphs;
  const double t0 = Now();
  absl::StatusOr<std::unique_ptr<CudaEngine>> engine = CudaEngine::CreateRandom(*config, 1, o);
  if (!engine.ok()) {
    std::printf("  engine FAILED: %s\n", Message(engine.status()).c_str());
    summary->push_back(absl::StrCat(shape, ": engine failed: ", Message(engine.status())));
    return kExitFailed;
  }
  std::printf("  engine in %.1f s: %s; %d adapter slots, max rank %d, CUDA graphs %s\n", Now() - t0,
              (*engine)->memory_plan().ToString().c_str(), (*engine)->num_adapter_slots(),
              o.max_lora_rank, s.cuda_graphs ? "on" : "off");
  std::vector<Case> cases =
      PrepareCases(*config, counts, *targets, s, (*engine)->num_adapter_slots() > 0);
  int rc = RunCases(**engine, cases, s, budget);
  PrintTable(shape, counts, cases, summary);
  for (const Case& c : cases) {
    if (!c.error.empty()) rc = kExitFailed;
  }
  cases.clear();  // frees the host adapters before the next shape
  if (s.latency) rc = Worse(rc, RunLoadLatency(engine->get(), *config, shape, s, summary));
  return rc;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  using namespace tessera;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a log cut short by a timeout keeps its lines
  CLI::App app("tessera multi-LoRA benchmark: throughput with many adapters, adapter load latency");
  Settings s;
  app.add_option("--shape", s.shapes, "1b (llama-3.2-1b), 8b (llama-3-8b)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--adapters", s.adapters, "adapter counts (0: base only), every shape but 8b")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--adapters-8b", s.adapters_8b, "adapter counts for the 8b shape")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--ranks", s.ranks, "each adapter's rank is drawn from these")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--targets", s.targets, "adapted projections (q,k,v,o,gate,up,down or all)")
      ->capture_default_str();
  app.add_option("--requests", s.requests, "requests per run")->capture_default_str();
  app.add_option("--prompt", s.prompt, "prompt tokens per request")->capture_default_str();
  app.add_option("--new-tokens", s.new_tokens, "generated tokens per request")
      ->capture_default_str();
  app.add_option("--batch", s.batch, "max_num_seqs (scheduler and engine)")->capture_default_str();
  app.add_option("--max-loras", s.max_loras, "engine adapter slots")->capture_default_str();
  app.add_option("--step-tokens", s.step_tokens, "tokens per step (max_num_batched_tokens)")
      ->capture_default_str();
  app.add_option("--zipf-alpha", s.zipf_alpha,
                 "adapter k (0-based) drawn with weight 1 / (k + 1)^alpha")
      ->capture_default_str();
  app.add_option("--reps", s.reps, "runs per case (median reported)")->capture_default_str();
  app.add_option("--seed", s.seed)->capture_default_str();
  app.add_option("--threads", s.threads, "threads making adapters (0: all cores)")
      ->capture_default_str();
  app.add_option("--max-host-gb", s.max_host_gb, "host fp32 allowed for the adapters of a shape")
      ->capture_default_str();
  app.add_option("--time-budget", s.time_budget_s, "seconds; later runs are skipped past it")
      ->capture_default_str();
  app.add_option("--run-timeout", s.run_timeout_s, "seconds; a run past it is aborted")
      ->capture_default_str();
  app.add_option("--latency", s.latency, "time adapter loads")->capture_default_str();
  app.add_option("--latency-rank", s.latency_rank)->capture_default_str();
  app.add_option("--latency-reps", s.latency_reps, "host -> device loads timed")
      ->capture_default_str();
  app.add_option("--disk-reps", s.disk_reps, "warm disk -> device loads timed after the cold one")
      ->capture_default_str();
  app.add_option("--latency-dir", s.latency_dir,
                 "where the PEFT directories are written (default: a temporary one, removed)");
  app.add_option("--cuda-graphs", s.cuda_graphs, "replay decode steps from CUDA graphs")
      ->capture_default_str();
  app.add_flag("--dry-run", s.dry_run, "no GPU: make the adapters and time the PEFT parsing only");
  CLI11_PARSE(app, argc, argv);
  if (s.requests < 1 || s.prompt < 1 || s.new_tokens < 1 || s.batch < 1 || s.reps < 1 ||
      s.ranks.empty() || s.latency_reps < 1 || s.disk_reps < 0 || s.max_loras < 0) {
    std::fprintf(stderr,
                 "lora_bench: --requests, --prompt, --new-tokens, --batch, --reps and "
                 "--latency-reps must be >= 1, --ranks not empty\n");
    return kExitFailed;
  }
  if (!s.dry_run) {
    int devices = 0;
    if (cudaError_t e = cudaGetDeviceCount(&devices); e != cudaSuccess || devices == 0) {
      std::fprintf(stderr, "lora_bench: no CUDA device (%s); --dry-run runs the host parts\n",
                   e != cudaSuccess ? cudaGetErrorString(e) : "none found");
      return kExitFailed;
    }
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    std::printf("device: %s, %.1f GiB\n", prop.name, prop.totalGlobalMem / 1073741824.0);
  }
  Budget budget;
  budget.limit_s = s.time_budget_s;
  int rc = 0;
  std::vector<std::string> summary;
  for (const std::string& shape : s.shapes) rc = Worse(rc, RunShape(shape, s, budget, &summary));
  std::printf("== lora_bench summary (%.0f s, exit %d)\n", Now() - budget.start, rc);
  for (const std::string& line : summary) std::printf("%s\n", line.c_str());
  return rc;
}
