#include "engine/cpu/linear.h"

#include <algorithm>

namespace tessera {

void Linear(const float* x, int64_t num_rows, const CpuLinear& w, float* y) {
  const int64_t n_out = w.rows, k = w.cols;
  const float* W = w.weight.data();
  const float* bias = w.bias.empty() ? nullptr : w.bias.data();
  // Rows in tiles so a tile of x stays in cache while each weight row streams past it once.
  constexpr int64_t kRowTile = 32;
  for (int64_t r0 = 0; r0 < num_rows; r0 += kRowTile) {
    const int64_t r1 = std::min(num_rows, r0 + kRowTile);
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < n_out; ++o) {
      const float* wrow = W + o * k;
      const float b = bias ? bias[o] : 0.0f;
      for (int64_t r = r0; r < r1; ++r) y[r * n_out + o] = Dot(x + r * k, wrow, k) + b;
    }
  }
}

}  // namespace tessera
