#include "engine/lora_layout.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

int64_t RoundUp(int64_t n) { return (n + kLoraRowAlign - 1) / kLoraRowAlign * kLoraRowAlign; }

}  // namespace

absl::StatusOr<LoraLayout> PlanLoraLayout(const LoraWeights& weights, int64_t chunk_elems,
                                          int32_t max_rank) {
  if (chunk_elems < kLoraRowAlign || chunk_elems % kLoraRowAlign != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV chunk of ", chunk_elems, " values cannot hold aligned adapter rows"));
  }
  LoraLayout layout;
  layout.chunk_elems = chunk_elems;
  // Per layer: the chunk being filled and its fill; chunks are filled in order, a row that does
  // not fit the rest of one starts the next (rows are few and long, so first-fit would save
  // little).
  std::vector<std::vector<int64_t>> fills(weights.layers.size());
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    int32_t block = 0;
    int64_t fill = 0;
    auto place = [&](int64_t len) {
      if (fill + len > chunk_elems) {
        fills[l].push_back(fill);
        ++block;
        fill = 0;
      }
      layout.rows.push_back({block, fill});
      fill += RoundUp(len);
    };
    for (int m = 0; m < kNumLoraModules; ++m) {
      const LoraPair& p = weights.layers[l][m];
      if (p.rank == 0) continue;
      const absl::string_view name = LoraModuleName(static_cast<LoraModule>(m));
      if (p.rank > max_rank) {
        return absl::InvalidArgumentError(absl::StrCat("layer ", l, " ", name, ": rank ", p.rank,
                                                       " exceeds the engine's maximum LoRA rank ",
                                                       max_rank));
      }
      const int64_t longest = std::max(p.in_features, p.out_features);
      if (longest > chunk_elems) {
        return absl::InvalidArgumentError(
            absl::StrCat("layer ", l, " ", name, ": adapter rows of ", longest,
                         " values do not fit a KV block's per-layer chunk of ", chunk_elems,
                         " values; use a larger KV block size"));
      }
      for (int32_t r = 0; r < p.rank; ++r) place(p.in_features);
      for (int32_t r = 0; r < p.rank; ++r) place(p.out_features);
    }
    if (fill > 0) fills[l].push_back(fill);
    layout.num_blocks = std::max(layout.num_blocks, static_cast<int32_t>(fills[l].size()));
  }
  layout.used.assign(weights.layers.size() * layout.num_blocks, 0);
  for (size_t l = 0; l < fills.size(); ++l) {
    for (size_t b = 0; b < fills[l].size(); ++b) {
      layout.used[l * layout.num_blocks + b] = fills[l][b];
      layout.total_used += fills[l][b];
    }
  }
  return layout;
}

}  // namespace tessera
