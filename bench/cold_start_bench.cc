// Time to ready of tesserad, phase by phase: for each model, --runs starts of the real daemon
// (page cache warm unless --cold), each read from the start log it writes (server/start_log.h),
// then stopped with SIGTERM. Beside the medians: the checkpoint's bytes, the rate at which the
// weights phase went through them, and the page cache's own read rate for the same files (a plain
// sequential read() by this program), which a load cannot beat. Prints a table; asserts nothing.
//
//   cold_start_bench                            the fixture models (tiny-llama, tiny-qwen2,
//                                               quant-llama and its AWQ, GPTQ, FP8 versions)
//   cold_start_bench --model DIR [--model DIR2] [--runs 5] [--load-threads 1,0]
//   cold_start_bench --synthetic SHAPE=DIR      writes a random bf16 checkpoint of a shape of
//                                               bench/synthetic_shapes.h (llama-3.2-1b: 2.5 GB,
//                                               llama-3-8b: 16 GB) to DIR once, then measures it
//   cold_start_bench --arg=--backend --arg=cuda flags passed on to tesserad
//   cold_start_bench --cold                     evicts the files from the page cache before each
//                                               start (posix_fadvise DONTNEED: no root needed)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "authoring/checkpoint_writer.h"
#include "bench/synthetic_shapes.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The shard files a load reads: those the index names, else model.safetensors.
std::vector<fs::path> CheckpointFiles(const fs::path& dir) {
  std::set<std::string> names;
  std::ifstream index(dir / "model.safetensors.index.json");
  if (index) {
    const nlohmann::json j = nlohmann::json::parse(index, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("weight_map") && j["weight_map"].is_object()) {
      for (const auto& [tensor, shard] : j["weight_map"].items()) {
        if (shard.is_string()) names.insert(shard.get<std::string>());
      }
    }
  } else {
    names.insert("model.safetensors");
  }
  std::vector<fs::path> files;
  for (const std::string& n : names) files.push_back(dir / n);
  return files;
}

// `dir` itself, or where a copy of the fixtures lost its symbolic links (small files holding
// "../quant-llama/..."), a scratch folder of links with each such file replaced by its target.
fs::path UsableModelDir(const fs::path& dir) {
  std::error_code ec;
  bool broken = false;
  std::vector<std::pair<fs::path, fs::path>> links;  // name in the scratch folder -> target
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    fs::path target = fs::absolute(e.path());
    if (!e.is_symlink(ec) && e.is_regular_file(ec) && e.file_size(ec) <= 256) {
      std::ifstream f(e.path(), std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      if (text.rfind("../", 0) == 0) {
        target = (fs::absolute(dir) / text).lexically_normal();
        broken = true;
      }
    }
    links.emplace_back(e.path().filename(), target);
  }
  if (!broken) return dir;
  const fs::path scratch =
      fs::temp_directory_path() /
      absl::StrCat("cold_start_links_", dir.filename().string(), "_", getpid());
  fs::remove_all(scratch, ec);
  fs::create_directories(scratch, ec);
  for (const auto& [name, target] : links) fs::create_symlink(target, scratch / name, ec);
  return scratch;
}

// Reads the files front to back into one buffer; returns the bytes read.
int64_t ReadAll(const std::vector<fs::path>& files, bool drop_after) {
  std::vector<char> buf(16 << 20);
  int64_t total = 0;
  for (const fs::path& f : files) {
    const int fd = open(f.c_str(), O_RDONLY);
    if (fd < 0) continue;
    for (ssize_t n; (n = read(fd, buf.data(), buf.size())) > 0;) total += n;
    if (drop_after) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
  return total;
}

// The page cache's read rate for `files` in GB/s: the best of 3 timed reads after a warm-up.
double PageCacheGBPerSecond(const std::vector<fs::path>& files, int64_t* bytes) {
  *bytes = ReadAll(files, false);
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    const int64_t n = ReadAll(files, false);
    best = std::max(best, n / Seconds(Clock::now() - start) / 1e9);
  }
  return best;
}

struct StartRun {
  std::vector<std::pair<std::string, double>> phases;  // from the summary line, in order
  double total = 0;                                    // total_seconds
  double wall = 0;                                     // spawn to the summary line, seen here
};

// "... tesserad: start summary total_seconds=T a=1 b=2" -> its figures.
bool ParseSummary(const std::string& line, StartRun* run) {
  const size_t at = line.find("tesserad: start summary ");
  if (at == std::string::npos) return false;
  for (absl::string_view kv : absl::StrSplit(line.substr(at + 24), ' ', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
    double v = 0;
    if (!absl::SimpleAtod(p.second, &v)) return false;
    if (p.first == "total_seconds") {
      run->total = v;
    } else {
      run->phases.emplace_back(p.first, v);
    }
  }
  return true;
}

// Starts tesserad, waits for its summary line (at most 600 s), stops it with SIGTERM.
absl::StatusOr<StartRun> StartOnce(const std::string& tesserad,
                                   const std::vector<std::string>& args) {
  int out[2];
  if (pipe(out) != 0) return absl::InternalError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<char*> argv{const_cast<char*>(tesserad.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto start = Clock::now();
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, tesserad.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return absl::NotFoundError(absl::StrCat("cannot start ", tesserad));
  }
  StartRun run;
  std::string pending, log;
  bool found = false;
  while (!found && Seconds(Clock::now() - start) < 600) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;  // tesserad exited
    pending.append(buf, n);
    for (size_t nl; !found && (nl = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      log += line + "\n";
      if (ParseSummary(line, &run)) {
        run.wall = Seconds(Clock::now() - start);
        found = true;
      }
    }
  }
  kill(pid, SIGTERM);
  close(out[0]);  // a daemon still logging gets EPIPE, not a full pipe
  int status = 0;
  waitpid(pid, &status, 0);
  if (!found) return absl::InternalError(absl::StrCat("no start summary; the log:\n", log));
  return run;
}

int Measure(const std::string& tesserad, const fs::path& given, int32_t load_threads, int runs,
            bool cold, const std::vector<std::string>& extra) {
  const fs::path model = UsableModelDir(given);
  const std::vector<fs::path> files = CheckpointFiles(model);
  int64_t bytes = 0;
  const double cache_rate = PageCacheGBPerSecond(files, &bytes);
  // With --cold, the disk's own sequential rate too: one read of the files after evicting them.
  std::string disk;
  if (cold) {
    ReadAll(files, /*drop_after=*/true);
    const auto start = Clock::now();
    const int64_t n = ReadAll(files, /*drop_after=*/true);
    disk = absl::StrFormat("  disk %5.2f GB/s", n / Seconds(Clock::now() - start) / 1e9);
  }
  std::vector<std::string> args{"--model",
                                model.string(),
                                "--port",
                                "0",
                                "--http-port",
                                "0",
                                "--metrics-port",
                                "-1",
                                "--num-weight-load-threads",
                                absl::StrCat(load_threads)};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> phases;
  std::vector<double> totals, walls;
  for (int i = 0; i < runs; ++i) {
    if (cold) ReadAll(files, /*drop_after=*/true);  // reading first makes every page droppable
    absl::StatusOr<StartRun> run = StartOnce(tesserad, args);
    if (!run.ok()) {
      std::fprintf(stderr, "%s: %s\n", model.c_str(), run.status().ToString().c_str());
      return 1;
    }
    for (const auto& [name, s] : run->phases) {
      if (!phases.count(name)) order.push_back(name);
      phases[name].push_back(s);
    }
    totals.push_back(run->total);
    walls.push_back(run->wall);
  }
  const double weights = Median(phases["weights"]);
  std::string cells;
  for (const std::string& name : order) {
    absl::StrAppend(&cells, absl::StrFormat(" %s %.3f", name, Median(phases[name])));
  }
  std::printf(
      "%-22s thr %-2d %8.1f MB  cache %5.2f GB/s%s  ready %.3f s (seen %.3f)  weights %5.2f GB/s "
      "|%s\n",
      given.filename().c_str(), load_threads, bytes / 1e6, cache_rate, disk.c_str(), Median(totals),
      Median(walls), weights > 0 ? bytes / weights / 1e9 : 0.0, cells.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("cold_start_bench: tesserad's time to ready, phase by phase (medians)");
  std::string tesserad = TESSERAD_PATH;
  std::vector<std::string> models, synthetic, extra;
  std::string load_threads = "0";
  int runs = 5;
  bool cold = false;
  app.add_option("--tesserad", tesserad, "The daemon to start")->capture_default_str();
  app.add_option("--model", models, "Model directory (default: the fixture models)");
  app.add_option("--synthetic", synthetic,
                 "SHAPE=DIR: a random bf16 checkpoint of a synthetic shape, written once");
  app.add_option("--runs", runs, "Starts per model (medians)")->capture_default_str();
  app.add_option("--load-threads", load_threads,
                 "Comma-separated --num-weight-load-threads values (0: one per hardware thread)")
      ->capture_default_str();
  app.add_flag("--cold", cold, "Evict the checkpoint from the page cache before each start");
  app.add_option("--arg", extra, "A flag passed on to tesserad (repeat)");
  CLI11_PARSE(app, argc, argv);
  for (const std::string& s : synthetic) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "--synthetic expects SHAPE=DIR, got \"%s\"\n", s.c_str());
      return 2;
    }
    const std::string dir = s.substr(eq + 1);
    if (!fs::exists(fs::path(dir) / "config.json")) {
      absl::StatusOr<tessera::ModelConfig> shape = tessera::SyntheticShape(s.substr(0, eq));
      if (!shape.ok()) {
        std::fprintf(stderr, "%s\n", shape.status().ToString().c_str());
        return 2;
      }
      tessera::RandomCheckpointOptions w;
      w.num_shards = shape->num_hidden_layers >= 32 ? 4 : 2;
      std::fprintf(stderr, "writing %s to %s\n", s.substr(0, eq).c_str(), dir.c_str());
      if (absl::Status st = tessera::WriteRandomCheckpoint(dir, *shape, w); !st.ok()) {
        std::fprintf(stderr, "%s\n", st.ToString().c_str());
        return 1;
      }
    }
    models.push_back(dir);
  }
  if (models.empty()) {
    for (const char* m : {"tiny-llama", "tiny-qwen2", "quant-llama", "quant-llama-awq",
                          "quant-llama-gptq", "quant-llama-fp8"}) {
      models.push_back(std::string(TESSERA_FIXTURES_DIR) + "/models/" + m);
    }
  }
  std::vector<int32_t> thread_counts;
  for (absl::string_view t : absl::StrSplit(load_threads, ',', absl::SkipEmpty())) {
    int32_t n = 0;
    if (!absl::SimpleAtoi(t, &n) || n < 0) {
      std::fprintf(stderr, "--load-threads: \"%s\" is not a count\n", std::string(t).c_str());
      return 2;
    }
    thread_counts.push_back(n);
  }
  std::printf(
      "tesserad time to ready, median of %d starts each, page cache %s; hardware threads %u\n",
      runs, cold ? "evicted before each start (--cold)" : "warm",
      std::thread::hardware_concurrency());
  int rc = 0;
  for (const std::string& m : models) {
    for (int32_t t : thread_counts) rc |= Measure(tesserad, m, t, runs, cold, extra);
  }
  return rc;
}
