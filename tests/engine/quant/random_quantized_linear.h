// Random quantized Linear weights for tests: every format's canonical QuantizedLinear with random
// codes, scales (f16-exact or full fp32, both signs), zero points and an act-order g_idx, so the
// repack and the kernels are tested on shapes and values no checkpoint happens to have.
#ifndef TESSERA_TESTS_ENGINE_QUANT_RANDOM_QUANTIZED_LINEAR_H_
#define TESSERA_TESTS_ENGINE_QUANT_RANDOM_QUANTIZED_LINEAR_H_

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <random>

#include "engine/dtype.h"
#include "engine/quant/quantized_linear.h"

namespace tessera::testing {

struct RandomCase {
  int bits;
  bool fp8;
  int64_t n, k, group;  // group -1: one per output channel
  bool act_order;
  bool f32_scales;  // else f16-exact scales, as AWQ/GPTQ store them
};

inline QuantizedLinear RandomLinear(const RandomCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  QuantizedLinear q;
  q.module = "model.layers.0.mlp.down_proj";
  q.format = "random";
  q.values_tensor = q.module + ".qweight";
  q.out_features = c.n;
  q.in_features = c.k;
  q.bits = c.bits;
  q.is_float = c.fp8;
  q.group_size = c.group < 0 ? c.k : c.group;
  q.per_channel = c.group < 0;
  const int64_t groups = c.k / q.group_size;
  q.values.resize(static_cast<size_t>(c.n * c.k));
  for (uint8_t& v : q.values) {
    if (c.fp8) {
      do v = static_cast<uint8_t>(rng());
      while ((v & 0x7f) == 0x7f);  // no NaN codes
    } else {
      v = static_cast<uint8_t>(rng() % (1u << c.bits));
    }
  }
  std::uniform_real_distribution<float> scale(1e-3f, 2e-2f);
  for (int64_t i = 0; i < groups * c.n; ++i) {
    const float s = scale(rng) * ((rng() & 1) ? 1.0f : -1.0f);  // negative scales exist too
    q.scales.push_back(c.f32_scales ? s : F16ToFloat(FloatToF16(s)));
    if (!c.fp8) q.zeros.push_back(static_cast<float>(rng() % (1u << c.bits)));
  }
  if (c.act_order) {
    for (int64_t i = 0; i < c.k; ++i) q.g_idx.push_back(static_cast<int32_t>(i / q.group_size));
    std::shuffle(q.g_idx.begin(), q.g_idx.end(), rng);
  }
  return q;
}

inline std::ostream& operator<<(std::ostream& os, const RandomCase& c) {
  return os << (c.fp8         ? "fp8"
                : c.bits == 4 ? "int4"
                              : "int8")
            << " [" << c.n << ", " << c.k << "] group " << c.group
            << (c.act_order ? " act-order" : "") << (c.f32_scales ? " f32 scales" : " f16 scales");
}

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_ENGINE_QUANT_RANDOM_QUANTIZED_LINEAR_H_
