// CPU reference engine throughput: prefill and decode tokens/s, on fixture checkpoints and on a
// synthetic Llama-shaped model with random weights (no files needed). Prints medians of repeats.
// With --lora-ranks, each model runs again with a random adapter of that rank on all seven
// projections in a slot that every sequence uses (the LoRA cost).
//
// --cpu-time reports process CPU time instead of wall time: steadier on a shared machine (use it
// with --threads 1, where CPU time is the work done).
//
//   cpu_engine_bench [--model DIR]... [--prompt 256] [--batches 1,8,32] [--context 256]
//                    [--repeats 5] [--threads 0] [--no-synthetic] [--lora-ranks 8,64]
//                    [--cpu-time]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "engine/cpu/cpu_engine.h"
#include "engine/lora_weights.h"

namespace tessera {
namespace {

// Llama-shaped, ~57M parameters: big enough that GEMMs dominate, small enough for 2 cores.
ModelConfig SyntheticLlama() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM (synthetic)";
  c.vocab_size = 32000;
  c.hidden_size = 512;
  c.intermediate_size = 1408;
  c.num_hidden_layers = 8;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000;
  c.max_position_embeddings = 8192;
  c.layer_sliding_window.assign(c.num_hidden_layers, 0);
  return c;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct BenchSettings {
  int prompt = 256;
  int context = 256;
  std::vector<int> batches = {1, 8, 32};
  int repeats = 5;
  bool cpu_time = false;
};

double Now(bool cpu_time) {
  if (cpu_time) return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Times `plan` `repeats` times (after one warm-up run) and returns the median seconds.
double TimeStep(Engine& engine, const StepPlan& plan, const BenchSettings& settings) {
  std::vector<double> s;
  for (int i = 0; i <= settings.repeats; ++i) {
    const double t0 = Now(settings.cpu_time);
    auto r = engine.Step(plan);
    const double t1 = Now(settings.cpu_time);
    if (!r.ok()) {
      std::fprintf(stderr, "step failed: %s\n", std::string(r.status().message()).c_str());
      std::exit(1);
    }
    if (i > 0) s.push_back(t1 - t0);
  }
  return Median(s);
}

std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, std::mt19937& rng) {
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

// Consecutive block ids starting at `first`, enough for `tokens`.
std::vector<int32_t> Blocks(int32_t first, int64_t tokens, int32_t block_size) {
  std::vector<int32_t> b((tokens + block_size - 1) / block_size);
  std::iota(b.begin(), b.end(), first);
  return b;
}

// A rank-`rank` adapter on every projection of every layer, random values.
std::shared_ptr<const LoraWeights> RandomLora(const ModelConfig& c, int32_t rank) {
  std::mt19937 rng(rank);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  auto lora = std::make_shared<LoraWeights>();
  lora->layers.resize(c.num_hidden_layers);
  for (auto& layer : lora->layers) {
    for (int i = 0; i < kNumLoraModules; ++i) {
      LoraPair& p = layer[i];
      p.rank = rank;
      p.scale = 2.0f;
      p.in_features = LoraModuleInFeatures(c, static_cast<LoraModule>(i));
      p.out_features = LoraModuleOutFeatures(c, static_cast<LoraModule>(i));
      p.a.resize(rank * p.in_features);
      p.b.resize(p.out_features * rank);
      for (float& x : p.a) x = u(rng);
      for (float& x : p.b) x = u(rng);
    }
  }
  return lora;
}

// `slot`: the adapter slot every sequence uses (-1: the base model).
void Bench(const std::string& name, Engine& engine, const BenchSettings& settings, int64_t params,
           int32_t slot = -1) {
  const int prompt = settings.prompt, context = settings.context;
  const ModelConfig& c = engine.config();
  const int32_t bs = engine.kv_geometry().block_size;
  std::mt19937 rng(7);
  // Prefill: one sequence feeding `prompt` tokens, logits for the last.
  StepPlan prefill;
  StepSequence seq;
  seq.sample = true;
  seq.adapter_slot = slot;
  prefill.AddSequence(RandomTokens(prompt, c.vocab_size, rng), Blocks(0, prompt, bs), bs, seq);
  const double t_prefill = TimeStep(engine, prefill, settings);
  std::printf("%-34s %5.0fM params  prefill %4d tok: %8.1f tok/s (%6.1f ms)\n", name.c_str(),
              params / 1e6, prompt, prompt / t_prefill, t_prefill * 1e3);
  // Decode: `b` sequences, each one token at position `context` (KV garbage is fine for timing).
  for (int b : settings.batches) {
    const int32_t per_seq = static_cast<int32_t>((context + 1 + bs - 1) / bs);
    if (static_cast<int64_t>(b) * per_seq > engine.kv_geometry().num_blocks) {
      std::printf("%-34s decode batch %3d: skipped (KV cache too small)\n", "", b);
      continue;
    }
    StepPlan decode;
    for (int i = 0; i < b; ++i) {
      StepSequence d;
      d.num_cached_tokens = context;
      d.sample = true;
      d.adapter_slot = slot;
      decode.AddSequence(RandomTokens(1, c.vocab_size, rng), Blocks(i * per_seq, context + 1, bs),
                         bs, d);
    }
    const double t = TimeStep(engine, decode, settings);
    std::printf("%-34s decode batch %3d @ctx %4d: %8.1f tok/s (%6.2f ms/step)\n", "", b, context,
                b / t, t * 1e3);
  }
}

void BenchLora(const std::string& name, Engine& engine, const BenchSettings& settings,
               int64_t params, const std::vector<int>& ranks) {
  for (int rank : ranks) {
    if (absl::Status s = engine.SetAdapter(0, RandomLora(engine.config(), rank), {}); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      std::exit(1);
    }
    Bench(absl::StrFormat("%s +lora r%d all", name, rank), engine, settings, params, 0);
  }
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  using namespace tessera;
  CLI::App app{"CPU reference engine benchmark"};
  std::vector<std::string> models;
  BenchSettings settings;
  int threads = 0;
  bool no_synthetic = false;
  std::vector<int> lora_ranks;
  app.add_option("--model", models, "Hugging Face model directory (repeatable)");
  app.add_option("--prompt", settings.prompt, "Prefill length")->capture_default_str();
  app.add_option("--context", settings.context, "KV length of decoding sequences")
      ->capture_default_str();
  app.add_option("--batches", settings.batches, "Decode batch sizes")->delimiter(',');
  app.add_option("--repeats", settings.repeats, "Timed repeats (median reported)")
      ->capture_default_str();
  app.add_flag("--cpu-time", settings.cpu_time, "Process CPU time instead of wall time");
  app.add_option("--threads", threads, "CPU threads (0 = all cores)")->capture_default_str();
  app.add_flag("--no-synthetic", no_synthetic, "Skip the synthetic model");
  app.add_option("--lora-ranks", lora_ranks, "Also run with a random all-projection adapter")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  CpuEngineOptions options;
  options.num_threads = threads;
  options.kv_cache_bytes = int64_t{2} << 30;
  for (const std::string& dir : models) {
    auto engine = CpuEngine::Load(dir, options);
    if (!engine.ok()) {
      std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str());
      return 1;
    }
    const std::string name = dir.substr(dir.find_last_of('/') + 1);
    const auto params = static_cast<int64_t>((*engine)->weights().NumParameters());
    Bench(name, **engine, settings, params);
    BenchLora(name, **engine, settings, params, lora_ranks);
  }
  if (!no_synthetic) {
    ModelConfig config = SyntheticLlama();
    CpuWeights weights = CpuWeights::Random(config, 1);
    const auto params = static_cast<int64_t>(weights.NumParameters());
    auto engine = CpuEngine::Create(config, std::move(weights), options);
    if (!engine.ok()) return 1;
    Bench("synthetic-llama-512x8", **engine, settings, params);
    BenchLora("synthetic-llama-512x8", **engine, settings, params, lora_ranks);
  }
  return 0;
}
