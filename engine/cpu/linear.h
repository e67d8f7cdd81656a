// y[t] = W x[t] + b for a batch of rows: the CPU reference GEMM, fp32, threaded over outputs.
#ifndef TESSERA_ENGINE_CPU_LINEAR_H_
#define TESSERA_ENGINE_CPU_LINEAR_H_

#include <cstdint>

#include "engine/cpu/cpu_weights.h"

namespace tessera {

// x: [num_rows, w.cols], y: [num_rows, w.rows] (overwritten). x and y must not overlap.
void Linear(const float* x, int64_t num_rows, const CpuLinear& w, float* y);

// Dot product of two length-n fp32 vectors (vectorized, fixed summation order per build).
float Dot(const float* a, const float* b, int64_t n);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_LINEAR_H_
