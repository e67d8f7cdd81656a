// Prefix caching, on against off: SchedulerCore over the CPU engine with random weights in the
// shape of `tessera make-model --preset llama-mini` (hidden 256, 4 layers, GQA 4:2, vocabulary
// 32,000; --layers changes the depth), a real clock, and three workloads:
//
//   shared:    90% of the requests start with one 1,024-token system prompt, then 32 tokens of
//              their own; the rest are wholly their own. Prefill tokens computed, median TTFT.
//   unique:    no two prompts share a block. Throughput (prompt + generated tokens per second).
//   multiturn: one conversation, each turn resending the history (the previous prompt and answer)
//              and 64 new tokens. Prefill tokens computed per turn.
//
// Requests run closed-loop: --concurrency of them in flight, the next one added when one ends.
// Prints figures; never asserts timings.
//
//   prefix_cache_bench [--layers 4] [--workload shared,unique,multiturn] [--threads 0]
#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "engine/cpu/cpu_engine.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"

namespace tessera {
namespace {

// llama-mini's shape (client/model_presets.cc), with random weights: no checkpoint to read.
ModelConfig LlamaMini(int32_t layers) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 32000;
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.hidden_size = 256;
  c.intermediate_size = 768;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  c.rope_theta = 500000;
  c.max_position_embeddings = 4096;
  c.layer_sliding_window.assign(layers, 0);
  return c;
}

struct Flags {
  int32_t layers = 4;
  std::string workloads = "shared,unique,multiturn";
  int32_t threads = 0;
  int32_t requests = 40;
  int32_t concurrency = 4;
  int32_t turns = 12;
  int32_t block_size = 16;
  int32_t num_kv_blocks = 4096;
};

struct Figures {
  int64_t prefill_tokens = 0;  // fed to the engine as prompt (or recompute) chunks
  int64_t generated_tokens = 0;
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // usage: prompt tokens found cached
  double seconds = 0;
  std::vector<double> ttft_seconds;

  double MedianTtft() {
    if (ttft_seconds.empty()) return 0;
    std::sort(ttft_seconds.begin(), ttft_seconds.end());
    return ttft_seconds[ttft_seconds.size() / 2];
  }
};

// Drains a sink, recording the finished request's figures.
class Recorder final : public RequestSink {
 public:
  explicit Recorder(Figures* f) : f_(f) {}
  void Push(RequestUpdate update) override {
    for (const SampleDelta& d : update.samples) {
      output_.insert(output_.end(), d.token_ids.begin(), d.token_ids.end());
    }
    if (!update.finished) return;
    finished_ = true;
    if (!update.status.ok()) {
      std::fprintf(stderr, "request failed: %s\n", std::string(update.status.message()).c_str());
    }
    if (update.timings) {
      f_->generated_tokens += update.timings->generated_tokens;
      f_->prompt_tokens += update.timings->prompt_tokens;
      f_->cached_tokens += update.timings->cached_prompt_tokens;
      if (update.timings->time_to_first_token) {
        f_->ttft_seconds.push_back(absl::ToDoubleSeconds(*update.timings->time_to_first_token));
      }
    }
  }
  bool finished() const { return finished_; }
  const std::vector<int32_t>& output() const { return output_; }

 private:
  Figures* f_;
  bool finished_ = false;
  std::vector<int32_t> output_;
};

// One engine and scheduler: a run's cache lives as long as it does.
class Runner {
 public:
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  Runner(const ModelConfig& config, const CpuWeights& weights, const Flags& flags, bool cache) {
    CpuEngineOptions eo;
    eo.block_size = flags.block_size;
    eo.num_kv_blocks = flags.num_kv_blocks;
    eo.num_threads = flags.threads;
    eo.max_loras = 0;
    auto engine = CpuEngine::Create(config, weights, eo);
    if (!engine.ok()) {
      std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str());
      std::exit(1);
    }
    engine_ = *std::move(engine);
    SchedulerOptions o;
    o.scheduling_policy = SchedulingPolicyKind::kFcfs;
    o.enable_prefix_caching = cache;
    core_ = std::make_unique<SchedulerCore>(*engine_, nullptr, clock_, o);
  }

  // Runs `prompts` closed-loop (`concurrency` in flight), max_tokens each (or, with `vary`,
  // between half and 1.5 times that, so that requests do not start and end in lockstep); adds to
  // `f`, and appends each request's output to `outputs` when given.
  void Run(const std::vector<std::vector<int32_t>>& prompts, int32_t max_tokens,
           int32_t concurrency, Figures& f, std::vector<std::vector<int32_t>>* outputs = nullptr,
           bool vary = false) {
    std::vector<std::shared_ptr<Recorder>> sinks;
    size_t next = 0;
    int in_flight = 0;
    const absl::Time start = clock_.Now();
    while (next < prompts.size() || !core_->idle()) {
      while (next < prompts.size() && in_flight < concurrency) {
        GenerateRequest r;
        r.id = std::to_string(next_id_++);
        r.max_tokens =
            vary ? max_tokens / 2 + static_cast<int32_t>(next * 7 % (max_tokens + 1)) : max_tokens;
        r.prompt_token_ids = prompts[next++];
        r.ignore_eos = true;
        sinks.push_back(std::make_shared<Recorder>(&f));
        if (absl::Status s = core_->Add(std::move(r), sinks.back()); !s.ok()) {
          std::fprintf(stderr, "add: %s\n", std::string(s.message()).c_str());
          std::exit(1);
        }
        ++in_flight;
      }
      absl::StatusOr<StepReport> report = core_->Step();
      if (!report.ok()) {
        std::fprintf(stderr, "step: %s\n", std::string(report.status().message()).c_str());
        std::exit(1);
      }
      f.prefill_tokens += report->num_prefill_tokens;
      in_flight = 0;
      for (const auto& s : sinks) in_flight += !s->finished();
    }
    f.seconds += absl::ToDoubleSeconds(clock_.Now() - start);
    if (outputs != nullptr) {
      for (const auto& s : sinks) outputs->push_back(s->output());
    }
  }

 private:
  SystemClock clock_;
  std::unique_ptr<CpuEngine> engine_;
  std::unique_ptr<SchedulerCore> core_;
  int64_t next_id_ = 0;
};

class Bench {
 public:
  Bench(const Flags& flags, ModelConfig config)
      : flags_(flags),
        config_(std::move(config)),
        weights_(std::make_unique<CpuWeights>(CpuWeights::Random(config_, 7))) {}

  Runner NewRunner(bool cache) const { return Runner(config_, *weights_, flags_, cache); }

  std::vector<int32_t> RandomTokens(int64_t n) {
    std::vector<int32_t> t(n);
    std::uniform_int_distribution<int32_t> token(3, static_cast<int32_t>(config_.vocab_size) - 1);
    for (int32_t& x : t) x = token(rng_);
    return t;
  }

 private:
  Flags flags_;
  ModelConfig config_;
  std::unique_ptr<CpuWeights> weights_;
  std::mt19937 rng_{1234};
};

void Shared(Bench& b, const Flags& flags) {
  const std::vector<int32_t> system = b.RandomTokens(1024);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < flags.requests; ++i) {
    std::vector<int32_t> p = i % 10 == 9 ? b.RandomTokens(1024) : system;
    const std::vector<int32_t> user = b.RandomTokens(32);
    p.insert(p.end(), user.begin(), user.end());
    prompts.push_back(std::move(p));
  }
  for (bool cache : {false, true}) {
    Figures f;
    b.NewRunner(cache).Run(prompts, 16, flags.concurrency, f, nullptr, /*vary=*/true);
    std::printf(
        "shared    cache %-3s  %d requests x 1056 prompt tokens (90%% share 1024), 8..24 "
        "generated, concurrency %d: prefill tokens computed %lld, cached %lld, median TTFT %.3f "
        "s, %.1f s in all\n",
        cache ? "on" : "off", flags.requests, flags.concurrency,
        static_cast<long long>(f.prefill_tokens), static_cast<long long>(f.cached_tokens),
        f.MedianTtft(), f.seconds);
  }
}

void Unique(Bench& b, const Flags& flags) {
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < flags.requests; ++i) prompts.push_back(b.RandomTokens(256));
  for (int rep = 0; rep < 2; ++rep) {
    for (bool cache : {false, true}) {
      Figures f;
      b.NewRunner(cache).Run(prompts, 64, 8, f);
      std::printf(
          "unique    cache %-3s  %d requests x (256 prompt + 64 generated), concurrency 8: "
          "%.1f s, %.1f tokens/s (prompt + generated), cached %lld\n",
          cache ? "on" : "off", flags.requests, f.seconds,
          static_cast<double>(f.prompt_tokens + f.generated_tokens) / f.seconds,
          static_cast<long long>(f.cached_tokens));
    }
  }
}

void MultiTurn(Bench& b, const Flags& flags) {
  std::vector<std::vector<int32_t>> user_turns;
  for (int t = 0; t < flags.turns; ++t) user_turns.push_back(b.RandomTokens(64));
  for (bool cache : {false, true}) {
    // One conversation: each turn's prompt is the history (prompts and answers so far) and a
    // new message; each turn runs alone, after the last, on one scheduler.
    Runner runner = b.NewRunner(cache);
    std::vector<int32_t> history;
    Figures f;
    std::printf("multiturn cache %-3s  prefill tokens computed per turn:", cache ? "on" : "off");
    for (int t = 0; t < flags.turns; ++t) {
      history.insert(history.end(), user_turns[t].begin(), user_turns[t].end());
      const int64_t before = f.prefill_tokens;
      std::vector<std::vector<int32_t>> answer;
      runner.Run({history}, 32, 1, f, &answer);
      history.insert(history.end(), answer[0].begin(), answer[0].end());
      std::printf(" %lld", static_cast<long long>(f.prefill_tokens - before));
    }
    std::printf("; %lld in all (prompts sum to %lld tokens), %.1f s\n",
                static_cast<long long>(f.prefill_tokens), static_cast<long long>(f.prompt_tokens),
                f.seconds);
  }
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  tessera::Flags flags;
  CLI::App app("prefix_cache_bench: prefix caching on against off, CPU engine");
  app.add_option("--layers", flags.layers, "Decoder layers")->capture_default_str();
  app.add_option("--workload", flags.workloads, "shared,unique,multiturn")->capture_default_str();
  app.add_option("--threads", flags.threads, "CPU threads (0 = all)")->capture_default_str();
  app.add_option("--requests", flags.requests, "Requests per run")->capture_default_str();
  app.add_option("--concurrency", flags.concurrency, "shared: in flight")->capture_default_str();
  app.add_option("--turns", flags.turns, "multiturn: turns")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  tessera::Bench bench(flags, tessera::LlamaMini(flags.layers));
  for (absl::string_view w : absl::StrSplit(flags.workloads, ',')) {
    if (w == "shared") tessera::Shared(bench, flags);
    if (w == "unique") tessera::Unique(bench, flags);
    if (w == "multiturn") tessera::MultiTurn(bench, flags);
  }
  return 0;
}
