#include "engine/cpu/linear.h"

#include <algorithm>

namespace tessera {

float Dot(const float* a, const float* b, int64_t n) {
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
