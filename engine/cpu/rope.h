// Rotary position embedding in Hugging Face's rotate-half convention, with the linear and llama3
// frequency scalings.
//
// For a head vector x of size d and position p, with inv_freq[i] for i < d/2 and a = p *
// inv_freq[i]:
//   x'[i]       = x[i] cos a - x[i + d/2] sin a
//   x'[i + d/2] = x[i + d/2] cos a + x[i] sin a
// inv_freq and the angle are computed in fp32 as transformers does, so positions far out round the
// same way; cos and sin are then taken of that fp32 angle.
#ifndef TESSERA_ENGINE_CPU_ROPE_H_
#define TESSERA_ENGINE_CPU_ROPE_H_

#include <cstdint>
#include <vector>

#include "engine/model_config.h"

namespace tessera {

// inv_freq for head_dim, theta and scaling (size head_dim / 2).
std::vector<float> RopeInverseFrequencies(int64_t head_dim, double theta,
                                          const RopeScaling& scaling);

class Rope {
 public:
  Rope(int64_t head_dim, double theta, const RopeScaling& scaling);

  // Rotates `num_heads` consecutive head vectors of one token at `position`, in place.
  void Apply(float* heads, int64_t num_heads, int64_t position) const;

  const std::vector<float>& inv_freq() const { return inv_freq_; }

 private:
  int64_t head_dim_;
  std::vector<float> inv_freq_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_ROPE_H_
