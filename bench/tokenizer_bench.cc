// Tokenizer throughput, single-threaded: encode MB/s on English prose and on mixed CJK / emoji /
// code text, cold (freshly loaded tokenizer, empty word cache) and warm; decode MB/s; and the
// time to load each tokenizer.json. Prints medians of repeats (MB = 10^6 bytes).
// --oniguruma benches each tokenizer that has Split patterns a second time ("NAME (oniguruma)"),
// with every pattern respelled as "(?:PATTERN)": the same regex, but none that the hand-coded
// fast paths recognise, so it runs through Oniguruma; the ids must be the same (see fnv1a).
//
//   tokenizer_bench [--tokenizer-dir DIR] [--tokenizers llama3,llama2,qwen3] [--repeats 5]
//                   [--bytes 1048576] [--english FILE] [--mixed FILE] [--dump-corpora DIR]
//                   [--thread-cpu-time] [--oniguruma]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "bench/tokenizer_corpus.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer/tokenizer.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using bench::Corpus;

struct NamedCorpus {
  std::string name;
  Corpus corpus;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Wall time by default; the thread's CPU time is steadier on cores shared with other work.
enum class Clock { kWall, kThreadCpu };

double Now(Clock clock) {
  if (clock == Clock::kWall) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

template <typename F>
double Seconds(Clock clock, F&& f) {
  const double t0 = Now(clock);
  f();
  return Now(clock) - t0;
}

[[noreturn]] void Die(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), status.ToString().c_str());
  std::exit(1);
}

// How a tokenizer is loaded: from its folder, or from tokenizer.json text held in memory (with
// its Split patterns respelled).
struct TokenizerSource {
  fs::path dir;
  std::string respelled_json;  // empty: Tokenizer::Load(dir)
};

std::unique_ptr<Tokenizer> LoadOrDie(const TokenizerSource& source) {
  auto tok = source.respelled_json.empty()
                 ? Tokenizer::Load(source.dir)
                 : Tokenizer::FromJson(source.respelled_json, "", source.dir.string());
  if (!tok.ok()) Die(source.dir.string(), tok.status());
  return *std::move(tok);
}

// Every Split pattern of `pre_tokenizer` as "(?:PATTERN)"; returns how many.
int RespellSplitPatterns(nlohmann::json* pre_tokenizer) {
  if (!pre_tokenizer->is_object()) return 0;
  if ((*pre_tokenizer)["type"] == "Sequence") {
    int n = 0;
    for (nlohmann::json& p : (*pre_tokenizer)["pretokenizers"]) n += RespellSplitPatterns(&p);
    return n;
  }
  if ((*pre_tokenizer)["type"] != "Split" || !(*pre_tokenizer)["pattern"].contains("Regex")) {
    return 0;
  }
  nlohmann::json& regex = (*pre_tokenizer)["pattern"]["Regex"];
  regex = "(?:" + regex.get<std::string>() + ")";
  return 1;
}

std::vector<int32_t> EncodeOrDie(const Tokenizer& tok, const std::string& text) {
  auto ids = tok.Encode(text, /*add_special_tokens=*/false);
  if (!ids.ok()) Die("encode", ids.status());
  return *std::move(ids);
}

std::string LoadAverage() {
  double l[3];
  if (getloadavg(l, 3) != 3) return "unknown";
  return absl::StrFormat("%.2f %.2f %.2f", l[0], l[1], l[2]);
}

void BenchTokenizer(const std::string& name, const TokenizerSource& source,
                    const std::vector<NamedCorpus>& corpora, int repeats, Clock clock) {
  const fs::path json = source.dir / "tokenizer.json";
  std::error_code ec;
  const auto json_bytes = fs::file_size(json, ec);
  if (ec) {
    std::printf("%s: skipped (no %s)\n", name.c_str(), json.string().c_str());
    return;
  }
  // Each cold run encodes with a tokenizer of its own, so every load is also a load sample.
  std::vector<double> load_s;
  std::vector<std::vector<double>> cold_s(corpora.size());
  std::unique_ptr<Tokenizer> tok;
  for (int r = 0; r < repeats; ++r) {
    for (size_t c = 0; c < corpora.size(); ++c) {
      load_s.push_back(Seconds(clock, [&] { tok = LoadOrDie(source); }));
      cold_s[c].push_back(Seconds(clock, [&] { EncodeOrDie(*tok, corpora[c].corpus.text); }));
    }
  }
  std::printf("%s (%.1f MB tokenizer.json): load %.1f ms (median of %zu)\n", name.c_str(),
              json_bytes / 1e6, Median(load_s) * 1e3, load_s.size());

  for (size_t c = 0; c < corpora.size(); ++c) {
    const std::string& text = corpora[c].corpus.text;
    std::vector<int32_t> ids = EncodeOrDie(*tok, text);  // fills the word cache
    std::vector<double> warm_s, decode_s;
    for (int r = 0; r < repeats; ++r) {
      warm_s.push_back(Seconds(clock, [&] { ids = EncodeOrDie(*tok, text); }));
    }
    std::string decoded;
    for (int r = 0; r < repeats; ++r) {
      decode_s.push_back(Seconds(clock, [&] {
        auto d = tok->Decode(ids, /*skip_special_tokens=*/false);
        if (!d.ok()) Die("decode", d.status());
        decoded = *std::move(d);
      }));
    }
    const double mb = text.size() / 1e6, warm = Median(warm_s);
    const std::string_view id_bytes(reinterpret_cast<const char*>(ids.data()),
                                    ids.size() * sizeof(int32_t));
    std::printf(
        "  %-8s encode cold %7.2f MB/s  warm %7.2f MB/s  %6.2f Mtok/s  %.2f B/tok | decode "
        "%7.2f MB/s, round trip %s | %zu ids, fnv1a %016llx\n",
        corpora[c].name.c_str(), mb / Median(cold_s[c]), mb / warm, ids.size() / warm / 1e6,
        static_cast<double>(text.size()) / ids.size(), decoded.size() / 1e6 / Median(decode_s),
        decoded == text ? "exact" : "differs", ids.size(),
        static_cast<unsigned long long>(bench::Fnv1a(id_bytes)));
  }
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  using namespace tessera;
  CLI::App app{"Tokenizer encode/decode/load benchmark (single-threaded)"};
  std::string tokenizer_dir = TESSERA_TOKENIZER_FIXTURES_DIR;
  std::vector<std::string> names = {"llama3", "llama2", "qwen3"};
  int repeats = 5;
  size_t bytes = size_t{1} << 20;
  std::string english_file, mixed_file, dump_dir;
  bool thread_cpu = false, oniguruma = false;
  const std::string licenses = "/usr/share/common-licenses";
  app.add_option("--tokenizer-dir", tokenizer_dir, "Directory of <name>/tokenizer.json")
      ->capture_default_str();
  app.add_option("--tokenizers", names, "Subdirectories of --tokenizer-dir to bench")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--repeats", repeats, "Timed repeats (median reported)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--bytes", bytes, "Corpus size in bytes")->capture_default_str();
  app.add_option("--english", english_file, "English corpus file (default: " + licenses + ")");
  app.add_option("--mixed", mixed_file, "Mixed corpus file (default: generated)");
  app.add_option("--dump-corpora", dump_dir, "Write the corpora used to DIR/{english,mixed}.txt");
  app.add_flag("--thread-cpu-time", thread_cpu,
               "Time with the thread's CPU clock instead of wall time (for busy machines)");
  app.add_flag("--oniguruma", oniguruma,
               "Also bench each tokenizer with its Split patterns run through Oniguruma");
  CLI11_PARSE(app, argc, argv);
  const Clock clock = thread_cpu ? Clock::kThreadCpu : Clock::kWall;

  std::vector<NamedCorpus> corpora;
  auto english = english_file.empty() ? bench::EnglishProse(licenses, bytes)
                                      : bench::CorpusFromFile(english_file, bytes);
  if (!english.has_value()) {
    std::fprintf(stderr, "no English corpus: %s is unreadable; pass --english FILE\n",
                 english_file.empty() ? licenses.c_str() : english_file.c_str());
    return 1;
  }
  corpora.push_back({"english", *std::move(english)});
  auto mixed = mixed_file.empty() ? bench::MixedCorpus(TESSERA_SOURCE_DIR, bytes, /*seed=*/1)
                                  : bench::CorpusFromFile(mixed_file, bytes);
  if (!mixed.has_value()) {
    std::fprintf(stderr, "%s is unreadable\n", mixed_file.c_str());
    return 1;
  }
  corpora.push_back({"mixed", *std::move(mixed)});

  std::printf("load average at start: %s; %d repeats, %s\n", LoadAverage().c_str(), repeats,
              thread_cpu ? "thread CPU time" : "wall time");
  for (const NamedCorpus& c : corpora) {
    std::printf("corpus %-8s %zu bytes, fnv1a %016llx: %s\n", c.name.c_str(), c.corpus.text.size(),
                static_cast<unsigned long long>(bench::Fnv1a(c.corpus.text)),
                c.corpus.description.c_str());
    if (!dump_dir.empty()) {
      std::ofstream(std::filesystem::path(dump_dir) / (c.name + ".txt"), std::ios::binary)
          << c.corpus.text;
    }
  }
  for (const std::string& name : names) {
    const fs::path dir = fs::path(tokenizer_dir) / name;
    BenchTokenizer(name, {dir, ""}, corpora, repeats, clock);
    if (!oniguruma || !fs::exists(dir / "tokenizer.json")) continue;
    std::ifstream in(dir / "tokenizer.json", std::ios::binary);
    nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || RespellSplitPatterns(&json["pre_tokenizer"]) == 0) {
      std::printf("%s (oniguruma): skipped (no Split pattern)\n", name.c_str());
      continue;
    }
    BenchTokenizer(name + " (oniguruma)", {dir, json.dump()}, corpora, repeats, clock);
  }
  std::printf("load average at end: %s\n", LoadAverage().c_str());
  return 0;
}
