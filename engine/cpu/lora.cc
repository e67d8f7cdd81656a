#include "engine/cpu/lora.h"

#include <algorithm>
#include <vector>

#include "engine/cpu/linear.h"

namespace tessera {

void AddLoraDelta(const float* x, int64_t in_features, absl::Span<const LoraPair* const> row_pairs,
                  int64_t out_features, float* y) {
  const auto n = static_cast<int64_t>(row_pairs.size());
  int32_t max_rank = 0;
  for (const LoraPair* p : row_pairs) {
    if (p != nullptr) max_rank = std::max(max_rank, p->rank);
  }
  if (max_rank == 0) return;
  // Shrink: h[t] = A x[t], one dot product of length in_features per (row, rank) element.
  std::vector<float> h(n * max_rank);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t t = 0; t < n; ++t) {
    for (int32_t r = 0; r < max_rank; ++r) {
      const LoraPair* p = row_pairs[t];
      if (p == nullptr || r >= p->rank) continue;
      h[t * max_rank + r] = Dot(x + t * in_features, p->a.data() + r * in_features, in_features);
    }
  }
  // Expand: y[t] += scale * (B h[t]), as PEFT adds lora_B(lora_A(x)) * scaling.
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t o = 0; o < out_features; ++o) {
      const LoraPair* p = row_pairs[t];
      if (p == nullptr) continue;
      y[t * out_features + o] +=
          p->scale * Dot(p->b.data() + o * p->rank, &h[t * max_rank], p->rank);
    }
  }
}

}  // namespace tessera
