// Load time and stored size of quantized weights on the CPU reference engine: for each model
// directory and method, the best of --repeats loads of config + checkpoint + (on-load)
// quantization + dequantization to fp32 (CpuWeights::FromCheckpoint), with the bytes the weights
// take as stored (what a GPU holds: packed codes, scales and zeros, and the unquantized tensors)
// against the same model in bf16. Prints figures; asserts nothing.
//
//   quant_load_bench                          the quant-llama fixtures
//   quant_load_bench --model DIR [--model DIR2 ...] [--quantization none,int8,int4,fp8,nf4]
//   quant_load_bench --synthetic-1b DIR       writes a random Llama-3.2-1B-shaped bf16 checkpoint
//                                             to DIR once (2.5 GB), and its AWQ, GPTQ and FP8
//                                             versions to DIR-awq, DIR-gptq, DIR-fp8, and
//                                             measures them all
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "authoring/checkpoint_writer.h"
#include "authoring/quant_checkpoint_writer.h"
#include "client/model_presets.h"
#include "engine/checkpoint.h"
#include "engine/cpu/cpu_weights.h"
#include "engine/model_config.h"
#include "engine/weight_load_options.h"

namespace {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// The bytes of every weight in bf16: the baseline quantization is measured against.
int64_t Bf16Bytes(const tessera::CpuWeights& w, bool tied) {
  int64_t n = static_cast<int64_t>(w.NumParameters());
  if (tied) n -= static_cast<int64_t>(w.lm_head.weight.size());
  return 2 * n;
}

int Run(const std::string& dir, const std::string& method, int repeats) {
  tessera::WeightLoadOptions options;
  if (method != "none") {
    options.quantization.method = *tessera::OnLoadMethodNamed(method);
  }
  double best = 1e30;
  std::string stored;
  int64_t stored_bytes = 0, bf16 = 0;
  size_t params = 0;
  std::string format;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto c = tessera::LoadModelConfig(dir);
    if (!c.ok()) {
      std::fprintf(stderr, "%s: %s\n", dir.c_str(), c.status().ToString().c_str());
      return 1;
    }
    auto k = tessera::Checkpoint::Open(dir);
    if (!k.ok()) {
      std::fprintf(stderr, "%s: %s\n", dir.c_str(), k.status().ToString().c_str());
      return 1;
    }
    auto w = tessera::CpuWeights::FromCheckpoint(*c, **k, options);
    if (!w.ok()) {
      std::fprintf(stderr, "%s %s: %s\n", dir.c_str(), method.c_str(),
                   w.status().ToString().c_str());
      return 1;
    }
    best = std::min(best, Seconds(std::chrono::steady_clock::now() - start));
    params = w->NumParameters();
    stored = w->stored.ToString();
    stored_bytes = w->stored.total();
    bf16 = Bf16Bytes(*w, c->tie_word_embeddings);
    format = c->quantization.quantized() ? c->quantization.MethodName() : method;
  }
  std::printf("%s\n", absl::StrFormat(
                          "%-26s %-18s load %9.2f ms (%5.0f Mparam/s)  stored %5.3f of bf16: %s",
                          std::filesystem::path(dir).filename().string(), format, best * 1e3,
                          params / best / 1e6, static_cast<double>(stored_bytes) / bf16, stored)
                          .c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Load time and stored size of quantized weights on the CPU engine");
  std::vector<std::string> models;
  std::vector<std::string> methods = {"none", "int8", "int4", "fp8", "nf4"};
  std::string synthetic;
  int repeats = 5;
  app.add_option("--model", models, "Model directories (default: the quant-llama fixtures)");
  app.add_option("--quantization", methods,
                 "On-load methods for unquantized models (pre-quantized ones load as they are)")
      ->delimiter(',');
  app.add_option("--synthetic-1b", synthetic,
                 "Also measure a random Llama-3.2-1B-shaped bf16 model in this folder (written "
                 "once)");
  app.add_option("--repeats", repeats, "Loads per model and method; the best is printed")
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  for (const std::string& m : methods) {
    if (m != "none" && !tessera::OnLoadMethodNamed(m)) {
      std::fprintf(stderr, "--quantization: unknown method \"%s\"\n", m.c_str());
      return 2;
    }
  }
  if (models.empty()) {
    for (const char* m :
         {"quant-llama", "quant-llama-awq", "quant-llama-gptq", "quant-llama-fp8"}) {
      models.push_back(std::string(TESSERA_FIXTURES_DIR) + "/models/" + m);
    }
  }
  if (!synthetic.empty()) {
    if (!std::filesystem::exists(std::filesystem::path(synthetic) / "config.json")) {
      auto config = tessera::PresetModelConfig("llama-3.2-1b");
      tessera::RandomCheckpointOptions o;
      o.seed = 1;
      o.scale = 0.02f;
      std::fprintf(stderr, "writing a Llama-3.2-1B-shaped checkpoint to %s\n", synthetic.c_str());
      if (auto s = tessera::WriteRandomCheckpoint(synthetic, *config, o); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
    }
    models.push_back(synthetic);
    // The same weights as pre-quantized AWQ, GPTQ and compressed-tensors FP8 checkpoints.
    struct Variant {
      const char* suffix;
      tessera::QuantWriteScheme scheme;
    };
    std::vector<Variant> variants(3);
    variants[0] = {"-awq", {}};
    variants[1] = {"-gptq", {}};
    variants[1].scheme.format = tessera::QuantFormat::kGptq;
    variants[2] = {"-fp8", {}};
    variants[2].scheme.format = tessera::QuantFormat::kCompressedFloat8;
    variants[2].scheme.bits = 8;
    variants[2].scheme.group_size = -1;
    for (const Variant& v : variants) {
      const std::string dir = synthetic + v.suffix;
      if (!std::filesystem::exists(std::filesystem::path(dir) / "config.json")) {
        std::fprintf(stderr, "writing %s\n", dir.c_str());
        if (auto s = tessera::WriteQuantizedCheckpoint(synthetic, dir, v.scheme); !s.ok()) {
          std::fprintf(stderr, "%s\n", s.ToString().c_str());
          return 1;
        }
      }
      models.push_back(dir);
    }
  }
  int rc = 0;
  for (const std::string& m : models) {
    auto c = tessera::LoadModelConfig(m);
    if (c.ok() && c->quantization.quantized()) {
      rc |= Run(m, "none", repeats);
      continue;
    }
    for (const std::string& method : methods) rc |= Run(m, method, repeats);
  }
  return rc;
}
