// RMSNorm as transformers computes it: x * rsqrt(mean(x^2) + eps) * weight, all in fp32.
#ifndef TESSERA_ENGINE_CPU_RMS_NORM_H_
#define TESSERA_ENGINE_CPU_RMS_NORM_H_

#include <cstdint>

namespace tessera {

// x, out: [num_rows, dim]; out may equal x.
void RmsNorm(const float* x, const float* weight, int64_t num_rows, int64_t dim, float eps,
             float* out);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_RMS_NORM_H_
