// The LoRA delta of one projection over a batch of rows that may each use a different adapter:
// y[t] += scale * B (A x[t]), computed as a shrink (h = A x, rank values) then an expand
// (y += scale * B h), in fp32 with a fixed summation order (a row's result does not depend on its
// batch or on the other rows' adapters).
#ifndef TESSERA_ENGINE_CPU_LORA_H_
#define TESSERA_ENGINE_CPU_LORA_H_

#include <cstdint>

#include "absl/types/span.h"
#include "engine/lora_weights.h"

namespace tessera {

// x: [row_pairs.size(), in_features]; y: [row_pairs.size(), out_features], updated in place.
// row_pairs[t] is the adapter projection of row t, or null to leave that row alone; every non-null
// pair has these in_features and out_features. x and y must not overlap.
void AddLoraDelta(const float* x, int64_t in_features, absl::Span<const LoraPair* const> row_pairs,
                  int64_t out_features, float* y);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_LORA_H_
