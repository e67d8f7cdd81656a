// FP8 E4M3 on-load quantizer: one fp32 scale per output channel; see on_load_quantizer.h.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "engine/dtype.h"
#include "engine/quant/on_load_quantizer.h"

namespace tessera {

absl::StatusOr<QuantizedLinear> QuantizeFp8PerChannel(const std::string& module,
                                                      const std::vector<float>& w, int64_t n,
                                                      int64_t k) {
  QuantizedLinear q;
  q.module = module;
  q.format = "on-load";
  q.values_tensor = module + ".weight";
  q.scales_tensor = module + ".weight (on-load scales)";
  q.bits = 8;
  q.is_float = true;
  q.out_features = n;
  q.in_features = k;
  q.group_size = k;
  q.per_channel = true;
  q.values.resize(static_cast<size_t>(n * k));
  q.scales.resize(static_cast<size_t>(n));
  for (int64_t row = 0; row < n; ++row) {
    const float* x = w.data() + row * k;
    float absmax = 0;
    for (int64_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(x[i]));
    // 448 is E4M3's largest finite value; FLT_MIN keeps x / scale finite near underflow.
    const float scale = absmax == 0.0f ? 1.0f : std::max(absmax / 448.0f, FLT_MIN);
    q.scales[static_cast<size_t>(row)] = scale;
    for (int64_t i = 0; i < k; ++i) {
      q.values[static_cast<size_t>(row * k + i)] = FloatToFp8E4M3(x[i] / scale);
    }
  }
  q.stored_bytes = n * k + n * static_cast<int64_t>(sizeof(float));
  return q;
}

}  // namespace tessera
