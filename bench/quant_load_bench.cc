// Load time of pre-quantized checkpoints on the CPU reference engine: for each model directory,
// the checkpoint's bytes on disk (quantized tensors and float ones), then the best of --repeats
// loads of config + checkpoint + dequantization to fp32 (CpuWeights::FromCheckpoint). Prints
// figures; asserts nothing.
//
//   quant_load_bench                          the quant-llama fixtures
//   quant_load_bench --model DIR [--model DIR2 ...] [--repeats 5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "engine/checkpoint.h"
#include "engine/cpu/cpu_weights.h"
#include "engine/dtype.h"
#include "engine/model_config.h"

namespace {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

int Run(const std::string& dir, int repeats) {
  auto config = tessera::LoadModelConfig(dir);
  if (!config.ok()) {
    std::fprintf(stderr, "%s: %s\n", dir.c_str(), config.status().ToString().c_str());
    return 1;
  }
  auto ckpt = tessera::Checkpoint::Open(dir);
  if (!ckpt.ok()) {
    std::fprintf(stderr, "%s: %s\n", dir.c_str(), ckpt.status().ToString().c_str());
    return 1;
  }
  size_t packed = 0, floats = 0;
  for (const std::string& name : (*ckpt)->Names()) {
    const tessera::TensorView* t = (*ckpt)->Find(name);
    (tessera::IsFloatWeightDType(t->dtype) && name.find("scale") == std::string::npos ? floats
                                                                                      : packed) +=
        t->data.size();
  }
  double best = 1e30;
  size_t params = 0;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto c = tessera::LoadModelConfig(dir);
    auto k = tessera::Checkpoint::Open(dir);
    if (!c.ok() || !k.ok()) return 1;
    auto w = tessera::CpuWeights::FromCheckpoint(*c, **k);
    if (!w.ok()) {
      std::fprintf(stderr, "%s: %s\n", dir.c_str(), w.status().ToString().c_str());
      return 1;
    }
    best = std::min(best, Seconds(std::chrono::steady_clock::now() - start));
    params = w->NumParameters();
  }
  std::printf("%s\n", absl::StrFormat("%-40s %-20s quantized+scales %9.3f MiB, float %9.3f MiB, "
                                      "load+dequantize %8.2f ms (%zu params, %.0f Mparam/s)",
                                      dir.substr(dir.find_last_of('/') + 1),
                                      config->quantization.MethodName(), packed / 1048576.0,
                                      floats / 1048576.0, best * 1e3, params, params / best / 1e6)
                          .c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Load time of quantized checkpoints on the CPU engine");
  std::vector<std::string> models;
  int repeats = 5;
  app.add_option("--model", models, "Model directories (default: the quant-llama fixtures)");
  app.add_option("--repeats", repeats, "Loads per model; the best is printed")
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  if (models.empty()) {
    for (const char* m :
         {"quant-llama", "quant-llama-awq", "quant-llama-gptq", "quant-llama-fp8"}) {
      models.push_back(std::string(TESSERA_FIXTURES_DIR) + "/models/" + m);
    }
  }
  int rc = 0;
  for (const std::string& m : models) rc |= Run(m, repeats);
  return rc;
}
