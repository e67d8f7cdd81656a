// Sleep-mode figures on the CPU engine: for each model, the load time, then --repeats cycles of
// Sleep + WakeUp at each level, with the best and median time of each and the process's resident
// memory awake and asleep (/proc/self/statm). Prints figures; asserts nothing.
//
//   sleep_wake_bench                               the fixture models (tiny-llama, tiny-qwen2)
//   sleep_wake_bench --model DIR [--model DIR2]    those folders
//   sleep_wake_bench --preset llama-small --dir D  also a random bf16 checkpoint of that preset's
//                                                  shape, written to D once
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "authoring/checkpoint_writer.h"
#include "client/model_presets.h"
#include "engine/cpu/cpu_engine.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double ResidentMB() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  if (!(statm >> size >> resident)) return -1;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
}

struct Times {
  std::vector<double> sleep, wake;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Best(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

int Measure(const std::string& dir, int repeats, int threads) {
  tessera::CpuEngineOptions o;
  o.num_kv_blocks = 256;
  o.num_threads = threads;
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::unique_ptr<tessera::CpuEngine>> engine = tessera::CpuEngine::Load(dir, o);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s: %s\n", dir.c_str(), std::string(engine.status().message()).c_str());
    return 1;
  }
  const double load = Seconds(Clock::now() - start);
  const double weights_mb = (*engine)->weights().NumParameters() * 4 / 1e6;
  std::printf("%s\n  load %.3f s, fp32 weights %.1f MB\n", dir.c_str(), load, weights_mb);
  for (tessera::SleepLevel level :
       {tessera::SleepLevel::kOffloadWeights, tessera::SleepLevel::kDiscardWeights}) {
    Times t;
    double awake_mb = 0, asleep_mb = 0;
    for (int i = 0; i < repeats; ++i) {
      awake_mb = ResidentMB();
      Clock::time_point a = Clock::now();
      if (absl::Status s = (*engine)->Sleep(level); !s.ok()) {
        std::fprintf(stderr, "sleep: %s\n", std::string(s.message()).c_str());
        return 1;
      }
      t.sleep.push_back(Seconds(Clock::now() - a));
      asleep_mb = ResidentMB();
      a = Clock::now();
      if (absl::Status s = (*engine)->WakeUp(); !s.ok()) {
        std::fprintf(stderr, "wake: %s\n", std::string(s.message()).c_str());
        return 1;
      }
      t.wake.push_back(Seconds(Clock::now() - a));
    }
    std::printf(
        "  level %d: sleep best %.4f s median %.4f s; wake best %.3f s median %.3f s; "
        "RSS awake %.1f MB, asleep %.1f MB (%.1f MB released)\n",
        static_cast<int>(level), Best(t.sleep), Median(t.sleep), Best(t.wake), Median(t.wake),
        awake_mb, asleep_mb, awake_mb - asleep_mb);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("sleep_wake_bench: sleep and wake times and released memory on the CPU engine");
  std::vector<std::string> models;
  std::string preset, dir;
  int repeats = 5, threads = 0;
  app.add_option("--model", models, "Model folders (default: the fixture models)");
  app.add_option("--preset", preset, "Also a random bf16 checkpoint of this make-model preset");
  app.add_option("--dir", dir, "Where --preset's checkpoint is written (once)");
  app.add_option("--repeats", repeats, "Sleep/wake cycles per level")->check(CLI::Range(1, 1000));
  app.add_option("--threads", threads, "CPU engine threads (0: all cores)");
  CLI11_PARSE(app, argc, argv);
  if (models.empty() && preset.empty()) {
    for (const char* m : {"tiny-llama", "tiny-qwen2"}) {
      models.push_back(std::string(TESSERA_FIXTURES_DIR) + "/models/" + m);
    }
  }
  if (!preset.empty()) {
    if (dir.empty()) dir = "/tmp/tessera-sleep-bench-" + preset;
    if (!std::filesystem::exists(std::filesystem::path(dir) / "config.json")) {
      absl::StatusOr<tessera::ModelConfig> config = tessera::PresetModelConfig(preset);
      if (!config.ok()) {
        std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
        return 2;
      }
      if (absl::Status s = tessera::WriteRandomCheckpoint(dir, *config, {}); !s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
        return 1;
      }
    }
    models.push_back(dir);
  }
  int rc = 0;
  for (const std::string& m : models) rc |= Measure(m, repeats, threads);
  return rc;
}
