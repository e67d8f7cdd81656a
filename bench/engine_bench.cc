// CUDA engine throughput on synthetic Llama shapes (random weights made on the device):
//   decode: B prompts of --prompt tokens, then --new-tokens decode steps of B tokens; ms/step
//           (median), tokens/s, achieved bandwidth against the measured copy ceiling, and tokens/s
//           with the prefill included (what transformers' generate figures count);
//   prefill: steps of --prefill-tokens tokens: tokens/s and TFLOP/s;
//   load: a safetensors directory (--load-dir, written once with random weights if missing),
//         loaded twice, the second from the page cache: GB/s.
// --quantization none,int4,... runs one engine per value in turn, the quantized ones with random
// packed Linears (bandwidth then counts their packed bytes), each figure with its ratio to none's.
//
//   engine_bench [--shape llama-3-8b]... [--batches 1,16,64,256] [--prompt 512]
//                [--new-tokens 128] [--prefill-tokens 8192] [--load-dir DIR]
//                [--quantization none,int8,int4,fp8,nf4]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "authoring/checkpoint_writer.h"
#include "bench/synthetic_shapes.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/cuda_weights.h"
#include "engine/quant/on_load_quantizer.h"

namespace tessera {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void Die(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
  std::exit(1);
}

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Device-to-device copy rate, bytes read + written per second: the ceiling for memory-bound steps.
double CopyCeilingBytesPerSecond() {
  const size_t bytes = size_t{2} << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) {
    std::fprintf(stderr, "copy ceiling: cudaMalloc failed\n");
    std::exit(1);
  }
  cudaMemset(a, 1, bytes);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<double> t;
  for (int i = 0; i < 11; ++i) {
    cudaEventRecord(e0);
    cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (i > 0) t.push_back(ms / 1e3);
  }
  if (cudaError_t err = cudaGetLastError(); err != cudaSuccess) {
    std::fprintf(stderr, "copy ceiling: %s\n", cudaGetErrorString(err));
    std::exit(1);
  }
  cudaFree(a);
  cudaFree(b);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 2.0 * bytes / Median(t);
}

// Matmul FLOPs per token of the decoder layers (q|k|v, o, gate|up, down) and of lm_head per row.
double LayerFlopsPerToken(const ModelConfig& c) {
  const double h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), im = c.intermediate_size;
  return 2.0 * c.num_hidden_layers * (h * (q + 2 * kv) + q * h + 2 * h * im + im * h);
}

// Attention FLOPs (QK^T and PV) of one query attending to `ctx` positions, all layers.
double AttentionFlops(const ModelConfig& c, double ctx) {
  return 4.0 * c.num_hidden_layers * c.num_attention_heads * c.head_dim * ctx;
}

struct Sequence {
  std::vector<int32_t> blocks;
  int64_t len = 0;
  int32_t next_token = 0;
};

// Decode tokens/s at `batch` (0 when skipped).
double RunDecode(CudaEngine& engine, int32_t batch, int32_t prompt, int32_t new_tokens,
                 int32_t max_step_tokens, double copy_ceiling) {
  const ModelConfig& c = engine.config();
  const int32_t bs = engine.kv_geometry().block_size;
  const int32_t per_seq = (prompt + new_tokens + bs - 1) / bs;
  if (int64_t{per_seq} * batch > engine.kv_geometry().num_blocks) {
    std::printf("decode batch %d: needs %lld KV blocks, pool has %d; skipped\n", batch,
                static_cast<long long>(int64_t{per_seq} * batch), engine.kv_geometry().num_blocks);
    return 0;
  }
  std::mt19937 rng(batch);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab_size) - 1);
  std::vector<Sequence> seqs(batch);
  for (int32_t i = 0; i < batch; ++i) {
    for (int32_t b = 0; b < per_seq; ++b) seqs[i].blocks.push_back(i * per_seq + b);
  }
  const auto start = std::chrono::steady_clock::now();
  // Prefill: as many whole prompts per step as the token budget holds.
  const int32_t per_step = std::max(1, max_step_tokens / prompt);
  for (int32_t first = 0; first < batch; first += per_step) {
    StepPlan plan;
    for (int32_t i = first; i < std::min(batch, first + per_step); ++i) {
      std::vector<int32_t> tokens(prompt);
      for (int32_t& t : tokens) t = tok(rng);
      StepSequence s;
      s.sample = true;
      const int32_t nb = (prompt + bs - 1) / bs;
      plan.AddSequence(tokens, {seqs[i].blocks.begin(), seqs[i].blocks.begin() + nb}, bs, s);
    }
    auto r = engine.Step(plan);
    if (!r.ok()) Die(r.status(), "prefill step");
    for (int32_t i = first; i < std::min(batch, first + per_step); ++i) {
      seqs[i].len = prompt;
      seqs[i].next_token = r->seqs[i - first].sampled_token;
    }
  }
  const auto prefilled = std::chrono::steady_clock::now();
  std::vector<double> step_s;
  double kv_bytes_read = 0;
  const double kv_bytes_per_token = 2.0 * c.num_hidden_layers * c.kv_size() * 2;
  for (int32_t k = 0; k < new_tokens; ++k) {
    StepPlan plan;
    for (Sequence& s : seqs) {
      StepSequence ss;
      ss.num_cached_tokens = s.len;
      ss.sample = true;
      ss.sample_index = k;
      const int32_t nb = static_cast<int32_t>((s.len + 1 + bs - 1) / bs);
      plan.AddSequence({s.next_token}, {s.blocks.begin(), s.blocks.begin() + nb}, bs, ss);
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto r = engine.Step(plan);
    const auto t1 = std::chrono::steady_clock::now();
    if (!r.ok()) Die(r.status(), "decode step");
    step_s.push_back(Seconds(t0, t1));
    for (int32_t i = 0; i < batch; ++i) {
      kv_bytes_read += (seqs[i].len + 1) * kv_bytes_per_token;
      seqs[i].len += 1;
      seqs[i].next_token = r->seqs[i].sampled_token;
    }
  }
  const auto end = std::chrono::steady_clock::now();
  const double med = Median(step_s);
  const double weight_bytes = engine.memory_plan().weight_bytes;
  const double bytes_per_step = weight_bytes + kv_bytes_read / new_tokens;
  std::printf(
      "decode  batch %4d: %7.3f ms/step  %9.1f tok/s  %7.1f GB/s (%4.1f%% of copy)  "
      "with prefill %9.1f tok/s  (prefill %.3f s)\n",
      batch, med * 1e3, batch / med, bytes_per_step / med / 1e9,
      100.0 * bytes_per_step / med / copy_ceiling,
      static_cast<double>(batch) * new_tokens / Seconds(start, end), Seconds(start, prefilled));
  return batch / med;
}

// Prefill tokens/s.
double RunPrefill(CudaEngine& engine, int32_t tokens, int32_t seq_len, double gemm_peak) {
  const ModelConfig& c = engine.config();
  const int32_t bs = engine.kv_geometry().block_size;
  const int32_t nseq = std::max(1, tokens / seq_len);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab_size) - 1);
  StepPlan plan;
  const int32_t nb = (seq_len + bs - 1) / bs;
  for (int32_t i = 0; i < nseq; ++i) {
    std::vector<int32_t> t(seq_len), blocks(nb);
    for (int32_t& x : t) x = tok(rng);
    for (int32_t b = 0; b < nb; ++b) blocks[b] = i * nb + b;
    StepSequence s;
    s.sample = true;
    plan.AddSequence(t, blocks, bs, s);
  }
  std::vector<double> times;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = engine.Step(plan);
    const auto t1 = std::chrono::steady_clock::now();
    if (!r.ok()) Die(r.status(), "prefill step");
    if (i > 0) times.push_back(Seconds(t0, t1));
  }
  const double med = Median(times);
  const double n = static_cast<double>(nseq) * seq_len;
  const double flops = LayerFlopsPerToken(c) * n +
                       nseq * AttentionFlops(c, seq_len * (seq_len + 1) / 2.0) +
                       2.0 * c.vocab_size * c.hidden_size * nseq;
  std::printf(
      "prefill %d x %d tokens: %8.2f ms/step  %10.0f tok/s  %6.1f TFLOP/s (%4.1f%% of %.0f)\n",
      nseq, seq_len, med * 1e3, n / med, flops / med / 1e12, 100.0 * flops / med / 1e12 / gemm_peak,
      gemm_peak);
  return n / med;
}

// "  (2.87x none)" when `base` has a figure for `key`, else "".
std::string Ratio(const std::map<int64_t, double>& base, int64_t key, double value) {
  const auto it = base.find(key);
  if (it == base.end() || it->second <= 0 || value <= 0) return "";
  return absl::StrFormat("  (%.2fx none)", value / it->second);
}

void RunLoad(const std::string& dir, const ModelConfig& shape) {
  if (!std::filesystem::exists(dir + "/config.json")) {
    const auto t0 = std::chrono::steady_clock::now();
    RandomCheckpointOptions o;
    o.num_shards = 2;
    if (absl::Status s = WriteRandomCheckpoint(dir, shape, o); !s.ok()) Die(s, "write checkpoint");
    std::printf("load: wrote %s in %.1f s\n", dir.c_str(),
                Seconds(t0, std::chrono::steady_clock::now()));
  }
  CudaEngineOptions o;
  o.num_kv_blocks = 64;
  o.max_num_tokens = 256;
  o.max_num_seqs = 16;
  for (int pass = 0; pass < 2; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    auto e = CudaEngine::Load(dir, o);
    const auto t1 = std::chrono::steady_clock::now();
    if (!e.ok()) Die(e.status(), "load");
    const WeightLoadStats& s = (*e)->load_stats();
    std::printf("load pass %d: %.2f GB of weights in %.3f s: %.2f GB/s (engine ready in %.3f s)\n",
                pass, s.bytes_read / 1e9, s.seconds, s.GBPerSecond(), Seconds(t0, t1));
  }
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  using namespace tessera;
  CLI::App app("tessera CUDA engine benchmark");
  std::vector<std::string> shapes{"llama-3.2-1b", "llama-3-8b"};
  std::vector<int32_t> batches{1, 16, 64, 256};
  int32_t prompt = 512, new_tokens = 128, prefill_tokens = 8192;
  double gemm_peak = 786;  // TFLOP/s, bf16 GEMM measured on the H100 host (docs/GPU.md)
  std::string load_dir, load_shape = "llama-3.2-1b";
  bool cuda_graphs = false, prefill = true;
  app.add_option("--shape", shapes, "llama-3.2-1b, llama-3-8b")->capture_default_str();
  app.add_option("--batches", batches)->delimiter(',')->capture_default_str();
  app.add_option("--prompt", prompt)->capture_default_str();
  app.add_option("--new-tokens", new_tokens)->capture_default_str();
  app.add_option("--prefill-tokens", prefill_tokens)->capture_default_str();
  app.add_option("--gemm-peak-tflops", gemm_peak)->capture_default_str();
  app.add_option("--load-dir", load_dir,
                 "safetensors directory to time loading (written if absent)");
  app.add_option("--load-shape", load_shape)->capture_default_str();
  app.add_option("--cuda-graphs", cuda_graphs, "replay decode steps from CUDA graphs")
      ->capture_default_str();
  app.add_option("--prefill", prefill, "run the prefill benchmark")->capture_default_str();
  std::vector<std::string> quantizations{"none"};
  app.add_option("--quantization", quantizations,
                 "none, int8, int4, fp8, nf4 (random packed Linears); each runs its own engine, "
                 "quantized ones with their tokens/s ratio to none when none ran first")
      ->delimiter(',')
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  for (const std::string& q : quantizations) {
    if (q != "none" && !OnLoadMethodNamed(q).has_value()) {
      Die(absl::InvalidArgumentError("--quantization: \"" + q +
                                     "\" is not none, int8, int4, fp8 or nf4"),
          "flags");
    }
  }
  const double copy = CopyCeilingBytesPerSecond();
  std::printf("device-to-device copy ceiling: %.0f GB/s (read + write)\n", copy / 1e9);
  for (const std::string& name : shapes) {
    absl::StatusOr<ModelConfig> shape = SyntheticShape(name);
    if (!shape.ok()) Die(shape.status(), "shape");
    // Tokens/s of the unquantized engine, keyed by decode batch (prefill: -tokens per sequence),
    // for the ratios of the quantized runs that follow it.
    std::map<int64_t, double> bf16;
    for (const std::string& q : quantizations) {
      const std::optional<OnLoadMethod> method = OnLoadMethodNamed(q);
      CudaEngineOptions o;
      o.max_num_tokens = std::max(prefill_tokens, prompt);
      o.max_num_seqs = 256;
      o.cuda_graphs = cuda_graphs;
      if (method.has_value()) o.quantization.method = *method;
      auto engine = CudaEngine::CreateRandom(*shape, 1, o);
      if (!engine.ok()) Die(engine.status(), "engine");
      std::printf("== %s, quantization %s (CUDA graphs %s): %s\n", name.c_str(), q.c_str(),
                  cuda_graphs ? "on" : "off", (*engine)->memory_plan().ToString().c_str());
      for (int32_t b : batches) {
        const double tok_s = RunDecode(**engine, b, prompt, new_tokens, o.max_num_tokens, copy);
        if (q == "none") bf16[b] = tok_s;
        if (q != "none" && tok_s > 0) {
          std::printf("decode  batch %4d: %s%s\n", b, q.c_str(), Ratio(bf16, b, tok_s).c_str());
        }
      }
      if (!prefill) continue;
      for (int32_t len : {prompt, prefill_tokens}) {
        const double tok_s = RunPrefill(**engine, prefill_tokens, len, gemm_peak);
        if (q == "none") bf16[-len] = tok_s;
        if (q != "none") {
          std::printf("prefill %d-token sequences: %s%s\n", len, q.c_str(),
                      Ratio(bf16, -len, tok_s).c_str());
        }
      }
    }
  }
  if (!load_dir.empty()) {
    absl::StatusOr<ModelConfig> shape = SyntheticShape(load_shape);
    if (!shape.ok()) Die(shape.status(), "shape");
    RunLoad(load_dir, *shape);
  }
  return 0;
}
