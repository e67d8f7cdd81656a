#include "engine/cpu/rope.h"

#include <cmath>
#include <numbers>

namespace tessera {

std::vector<float> RopeInverseFrequencies(int64_t head_dim, double theta,
                                          const RopeScaling& scaling) {
  const int64_t half = head_dim / 2;
  std::vector<float> inv(half);
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv[i] = 1.0f / std::pow(static_cast<float>(theta), exponent);
  }
  switch (scaling.type) {
    case RopeScalingType::kNone:
      break;
    case RopeScalingType::kLinear:
      // transformers divides inv_freq by the factor (equivalently, positions).
      for (float& f : inv) f = static_cast<float>(f / scaling.factor);
      break;
    case RopeScalingType::kLlama3: {
      // Long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
      const double old_ctx = static_cast<double>(scaling.original_max_position_embeddings);
      const double low_wavelen = old_ctx / scaling.low_freq_factor;
      const double high_wavelen = old_ctx / scaling.high_freq_factor;
      for (float& f : inv) {
        const double wavelen = 2 * std::numbers::pi / f;
        if (wavelen > low_wavelen) {
          f = static_cast<float>(f / scaling.factor);
        } else if (wavelen >= high_wavelen) {
          const double smooth = (old_ctx / wavelen - scaling.low_freq_factor) /
                                (scaling.high_freq_factor - scaling.low_freq_factor);
          f = static_cast<float>((1 - smooth) * f / scaling.factor + smooth * f);
        }
      }
      break;
    }
  }
  return inv;
}

Rope::Rope(int64_t head_dim, double theta, const RopeScaling& scaling)
    : head_dim_(head_dim), inv_freq_(RopeInverseFrequencies(head_dim, theta, scaling)) {}

void Rope::Apply(float* heads, int64_t num_heads, int64_t position) const {
  const int64_t half = head_dim_ / 2;
  const float p = static_cast<float>(position);
  for (int64_t i = 0; i < half; ++i) {
    const float angle = p * inv_freq_[i];  // fp32 product, as transformers computes it
    const float c = std::cos(angle), s = std::sin(angle);
    for (int64_t h = 0; h < num_heads; ++h) {
      float* x = heads + h * head_dim_;
      const float a = x[i], b = x[i + half];
      x[i] = a * c - b * s;
      x[i + half] = b * c + a * s;
    }
  }
}

}  // namespace tessera
