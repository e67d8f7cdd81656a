// Random packed quantized weights for benchmark shapes without files (engine_bench,
// quant_gemm_bench): uniform codes (no FP8 NaN), f16 scales and zero points at the code range's
// middle, so every weight is finite and of the size random bf16 benchmark weights have.
//
// Stateless; thread-safe.
#ifndef TESSERA_ENGINE_QUANT_RANDOM_PACKED_LINEAR_H_
#define TESSERA_ENGINE_QUANT_RANDOM_PACKED_LINEAR_H_

#include <cstdint>

#include "engine/quant/packed_linear.h"

namespace tessera {

// An [n, k] weight of `kind`: int4 in groups of 128 (one group when 128 does not divide k),
// int8 and FP8 per output channel, NF4 in blocks of 64. |W| stays below about `scale`.
// Deterministic in `seed`.
PackedLinear RandomPackedLinear(PackedKind kind, int64_t n, int64_t k, float scale, uint64_t seed);

}  // namespace tessera

#endif  // TESSERA_ENGINE_QUANT_RANDOM_PACKED_LINEAR_H_
