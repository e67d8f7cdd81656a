#include "bench/lora_workload.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/synthetic_lora.h"
#include "bench/zipf_sampler.h"

namespace tessera {

absl::StatusOr<LoraWorkload> MakeLoraWorkload(const ModelConfig& config,
                                              const LoraWorkloadOptions& o) {
  LoraWorkload w;
  w.num_adapters = o.num_adapters;
  w.per_request.resize(std::max(o.num_requests, 0));
  if (o.num_adapters <= 0) return w;
  if (o.ranks.empty() || o.targets.empty()) {
    return absl::InvalidArgumentError("adapters need at least one rank and one target");
  }
  const ZipfSampler zipf(o.num_adapters, o.zipf_alpha);
  std::mt19937_64 rng(o.seed * 1000003 + static_cast<uint64_t>(o.num_adapters));
  std::vector<int32_t> pick(w.per_request.size());
  std::map<int32_t, size_t> spec_of;  // adapter index -> its position in specs
  for (int32_t& p : pick) spec_of.emplace(p = zipf.Sample(rng), 0);
  std::vector<SyntheticLoraSpec> specs;
  for (auto& [k, pos] : spec_of) {
    pos = specs.size();
    // Per adapter, so that adapter k has the same rank and values whatever else is drawn.
    std::mt19937_64 adapter_rng(o.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(k));
    SyntheticLoraSpec spec;
    spec.rank = o.ranks[adapter_rng() % o.ranks.size()];
    spec.targets = o.targets;
    spec.seed = adapter_rng();
    w.host_bytes += SyntheticLoraBytes(config, spec);
    ++w.ranks[spec.rank];
    specs.push_back(std::move(spec));
  }
  w.distinct = static_cast<int32_t>(specs.size());
  if (w.host_bytes > o.max_host_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        o.num_adapters, " adapters: the ", w.distinct, " drawn need ", w.host_bytes / 1000000,
        " MB of host fp32, over the allowance of ", o.max_host_bytes / 1000000, " MB"));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::shared_ptr<const LoraWeights>> weights =
      RandomLoraWeightsParallel(config, specs, o.threads);
  w.make_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<std::shared_ptr<const AdapterRef>> refs(specs.size());
  for (const auto& [k, pos] : spec_of) {
    auto ref = std::make_shared<AdapterRef>();
    ref->name = absl::StrCat("adapter-", k);
    ref->weights = weights[pos];
    refs[pos] = std::move(ref);
  }
  for (size_t i = 0; i < pick.size(); ++i) w.per_request[i] = refs[spec_of[pick[i]]];
  return w;
}

std::vector<std::vector<int32_t>> RandomPrompts(const ModelConfig& config, int32_t count,
                                                int32_t length, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(config.vocab_size) - 1);
  std::vector<std::vector<int32_t>> prompts(std::max(count, 0), std::vector<int32_t>(length));
  for (auto& p : prompts) {
    for (int32_t& t : p) t = token(rng);
  }
  return prompts;
}

}  // namespace tessera
