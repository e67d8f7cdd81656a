// int8 (symmetric, per output channel) and int4 (groups of 128 with zero points) on-load
// quantizers; see on_load_quantizer.h for the layouts.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/dtype.h"
#include "engine/quant/on_load_quantizer.h"

namespace tessera {
namespace {

QuantizedLinear Shell(const std::string& module, int32_t bits, int64_t n, int64_t k,
                      int64_t group_size) {
  QuantizedLinear q;
  q.module = module;
  q.format = "on-load";
  q.values_tensor = module + ".weight";
  q.scales_tensor = q.zeros_tensor = module + ".weight (on-load scales)";
  q.bits = bits;
  q.out_features = n;
  q.in_features = k;
  q.group_size = group_size;
  q.values.resize(static_cast<size_t>(n * k));
  return q;
}

// The smallest f16 value at or above s (> 0), as fp32; infinity past f16's range.
float RoundUpToF16(float s) {
  uint16_t h = FloatToF16(s);
  if (F16ToFloat(h) < s) ++h;  // positive f16 bit patterns order like their values
  return F16ToFloat(h);
}

}  // namespace

absl::StatusOr<QuantizedLinear> QuantizeInt8PerChannel(const std::string& module,
                                                       const std::vector<float>& w, int64_t n,
                                                       int64_t k) {
  QuantizedLinear q = Shell(module, 8, n, k, k);
  q.per_channel = true;
  q.scales.resize(static_cast<size_t>(n));
  q.zeros.assign(static_cast<size_t>(n), 128.0f);
  for (int64_t row = 0; row < n; ++row) {
    const float* x = w.data() + row * k;
    float absmax = 0;
    for (int64_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(x[i]));
    // FLT_MIN keeps x / scale finite for weights near fp32's underflow.
    const float scale = absmax == 0.0f ? 1.0f : std::max(absmax / 127.0f, FLT_MIN);
    q.scales[static_cast<size_t>(row)] = scale;
    for (int64_t i = 0; i < k; ++i) {
      const float c = std::clamp(std::nearbyint(x[i] / scale), -127.0f, 127.0f);
      q.values[static_cast<size_t>(row * k + i)] = static_cast<uint8_t>(c + 128.0f);
    }
  }
  q.stored_bytes = n * k + n * static_cast<int64_t>(sizeof(float));
  return q;
}

absl::StatusOr<QuantizedLinear> QuantizeInt4Grouped(const std::string& module,
                                                    const std::vector<float>& w, int64_t n,
                                                    int64_t k, int64_t group_size) {
  if (group_size <= 0 || k % group_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--quantization int4: ", module, " has ", k, " inputs, which groups of ",
                     group_size, " do not divide; use int8, fp8 or nf4 for this model"));
  }
  QuantizedLinear q = Shell(module, 4, n, k, group_size);
  const int64_t groups = k / group_size;
  q.scales.resize(static_cast<size_t>(groups * n));
  q.zeros.resize(static_cast<size_t>(groups * n));
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t g = 0; g < groups; ++g) {
      const float* x = w.data() + row * k + g * group_size;
      // The range includes 0 so that 0 is exactly representable (as GPTQ's quantizer does).
      float lo = 0, hi = 0;
      for (int64_t i = 0; i < group_size; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
      }
      float scale = 1.0f;
      if (hi > lo) {
        scale = RoundUpToF16((hi - lo) / 15.0f);
        if (!std::isfinite(scale)) {
          return absl::InvalidArgumentError(absl::StrCat("--quantization int4: ", module, " row ",
                                                         row, " group ", g, " spans [", lo, ", ",
                                                         hi, "], beyond what f16 scales hold"));
        }
      }
      const float zero = std::clamp(std::nearbyint(-lo / scale), 0.0f, 15.0f);
      q.scales[static_cast<size_t>(g * n + row)] = scale;
      q.zeros[static_cast<size_t>(g * n + row)] = zero;
      for (int64_t i = 0; i < group_size; ++i) {
        const float c = std::clamp(std::nearbyint(x[i] / scale) + zero, 0.0f, 15.0f);
        q.values[static_cast<size_t>(row * k + g * group_size + i)] = static_cast<uint8_t>(c);
      }
    }
  }
  // Packed codes, f16 scales and packed 4-bit zero points, as AWQ/GPTQ store them.
  q.stored_bytes = n * k / 2 + groups * n * 2 + (groups * n + 1) / 2;
  return q;
}

}  // namespace tessera
