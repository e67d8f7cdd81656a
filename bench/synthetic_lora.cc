#include "bench/synthetic_lora.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "adapters/peft_loader.h"
#include "authoring/safetensors_writer.h"
#include "engine/dtype.h"

namespace tessera {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [-0.01, 0.01): element i of the stream `stream`. Counter-based, so any element can be
// made without the ones before it.
void Fill(std::vector<float>& v, uint64_t stream) {
  const uint64_t key = SplitMix64(stream);
  for (size_t i = 0; i < v.size(); ++i) {
    const auto bits = static_cast<int32_t>(SplitMix64(key + i) >> 32);
    v[i] = static_cast<float>(bits) * (0.01f / 2147483648.0f);
  }
}

// Makes sure `path` is on disk and not in the page cache, so that the next read comes from disk.
void DropFromPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  (void)fdatasync(fd);
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

}  // namespace

absl::StatusOr<std::vector<LoraModule>> ParseLoraTargets(const std::string& list) {
  bool wanted[kNumLoraModules] = {};
  for (absl::string_view entry : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry == "all" || entry == "all-linear") {
      std::fill(std::begin(wanted), std::end(wanted), true);
      continue;
    }
    std::optional<LoraModule> m = LoraModuleFromName(entry);
    if (!m.has_value()) m = LoraModuleFromName(absl::StrCat(entry, "_proj"));
    if (!m.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown LoRA target \"", entry,
                       "\" (q, k, v, o, gate, up, down, their _proj names, all)"));
    }
    wanted[static_cast<int>(*m)] = true;
  }
  std::vector<LoraModule> out;
  for (int i = 0; i < kNumLoraModules; ++i) {
    if (wanted[i]) out.push_back(static_cast<LoraModule>(i));
  }
  if (out.empty()) return absl::InvalidArgumentError("no LoRA targets given");
  return out;
}

int64_t SyntheticLoraBytes(const ModelConfig& config, const SyntheticLoraSpec& spec) {
  int64_t per_layer = 0;
  for (LoraModule m : spec.targets) {
    per_layer += spec.rank * (LoraModuleInFeatures(config, m) + LoraModuleOutFeatures(config, m));
  }
  return per_layer * config.num_hidden_layers * static_cast<int64_t>(sizeof(float));
}

std::shared_ptr<const LoraWeights> RandomLoraWeights(const ModelConfig& config,
                                                     const SyntheticLoraSpec& spec) {
  auto lora = std::make_shared<LoraWeights>();
  lora->layers.resize(config.num_hidden_layers);
  const uint64_t key = SplitMix64(spec.seed);
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    for (LoraModule m : spec.targets) {
      LoraPair& p = lora->layers[l][static_cast<int>(m)];
      p.rank = spec.rank;
      p.scale = spec.scale;
      p.in_features = LoraModuleInFeatures(config, m);
      p.out_features = LoraModuleOutFeatures(config, m);
      p.a.resize(spec.rank * p.in_features);
      p.b.resize(p.out_features * spec.rank);
      // Two streams per (layer, module): A's and B's.
      const uint64_t stream =
          key + 2 * static_cast<uint64_t>(l * kNumLoraModules + static_cast<int>(m));
      Fill(p.a, stream);
      Fill(p.b, stream + 1);
    }
  }
  return lora;
}

std::vector<std::shared_ptr<const LoraWeights>> RandomLoraWeightsParallel(
    const ModelConfig& config, const std::vector<SyntheticLoraSpec>& specs, int threads) {
  std::vector<std::shared_ptr<const LoraWeights>> out(specs.size());
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::min<int>(threads, static_cast<int>(specs.size()));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < specs.size(); i = next++)
      out[i] = RandomLoraWeights(config, specs[i]);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return out;
}

absl::Status WritePeftAdapterDir(const std::string& dir, const LoraWeights& weights) {
  const LoraPair* first = nullptr;
  std::vector<LoraModule> targets;
  for (int i = 0; i < kNumLoraModules && !weights.layers.empty(); ++i) {
    const LoraPair& p = weights.layers[0][i];
    if (p.rank == 0) continue;
    targets.push_back(static_cast<LoraModule>(i));
    if (first == nullptr) first = &p;
  }
  if (first == nullptr) return absl::InvalidArgumentError("the adapter adapts nothing");
  std::vector<TensorToWrite> tensors;
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    for (int i = 0; i < kNumLoraModules; ++i) {
      const LoraPair& p = weights.layers[l][i];
      const bool targeted =
          std::find(targets.begin(), targets.end(), static_cast<LoraModule>(i)) != targets.end();
      if ((p.rank > 0) != targeted ||
          (targeted && (p.rank != first->rank || p.scale != first->scale))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "layer ", l, " ", LoraModuleName(static_cast<LoraModule>(i)),
            ": a PEFT directory here needs the same modules, rank and scale in every layer"));
      }
      if (!targeted) continue;
      const std::string path = absl::StrCat(
          "base_model.model.", PeftModulePath(static_cast<int64_t>(l), static_cast<LoraModule>(i)));
      for (const bool is_a : {true, false}) {
        const std::vector<float>& src = is_a ? p.a : p.b;
        TensorToWrite t{absl::StrCat(path, is_a ? ".lora_A" : ".lora_B", ".weight"), DType::kBF16,
                        is_a ? std::vector<int64_t>{p.rank, p.in_features}
                             : std::vector<int64_t>{p.out_features, p.rank},
                        std::string(src.size() * 2, '\0')};
        for (size_t k = 0; k < src.size(); ++k) {
          const uint16_t h = FloatToBf16(src[k]);
          std::memcpy(&t.bytes[2 * k], &h, 2);
        }
        tensors.push_back(std::move(t));
      }
    }
  }
  std::vector<std::string> names;
  for (LoraModule m : targets) names.push_back(absl::StrCat("\"", LoraModuleName(m), "\""));
  const std::string config =
      absl::StrCat(R"({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": )", first->rank,
                   R"(, "lora_alpha": )", first->scale * static_cast<float>(first->rank),
                   R"(, "lora_dropout": 0.0, "bias": "none", "target_modules": [)",
                   absl::StrJoin(names, ", "), "]}\n");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::string config_path = absl::StrCat(dir, "/", kPeftConfigName);
  const std::string weights_path = absl::StrCat(dir, "/", kPeftWeightsName);
  if (absl::Status s = WriteFileAtomically(config_path, config); !s.ok()) return s;
  if (absl::Status s = WriteSafetensors(weights_path, tensors); !s.ok()) return s;
  DropFromPageCache(config_path);
  DropFromPageCache(weights_path);
  return absl::OkStatus();
}

}  // namespace tessera
