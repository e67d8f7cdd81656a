// y[t] = W x[t] + b for a batch of rows: the CPU reference GEMM, fp32, threaded over outputs.
#ifndef TESSERA_ENGINE_CPU_LINEAR_H_
#define TESSERA_ENGINE_CPU_LINEAR_H_

#include <cstdint>

#include "engine/cpu/cpu_weights.h"

namespace tessera {

// x: [num_rows, w.cols], y: [num_rows, w.rows] (overwritten). x and y must not overlap.
void Linear(const float* x, int64_t num_rows, const CpuLinear& w, float* y);

// Dot product of two length-n fp32 vectors (vectorized, fixed summation order per build). Inline:
// LoRA's expand calls it once per output element with n = rank, where a call would cost more than
// the arithmetic.
inline float Dot(const float* a, const float* b, int64_t n) {
  // Eight independent partial sums in a fixed order: the compiler vectorizes them, and the result
  // does not depend on pointer alignment, so a row gives the same bits in any batch.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_LINEAR_H_
