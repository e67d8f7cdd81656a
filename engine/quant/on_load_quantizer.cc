#include "engine/quant/on_load_quantizer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera {

std::optional<OnLoadMethod> OnLoadMethodNamed(std::string_view flag) {
  if (flag == "int8") return OnLoadMethod::kInt8;
  if (flag == "int4") return OnLoadMethod::kInt4;
  if (flag == "fp8") return OnLoadMethod::kFp8;
  if (flag == "nf4" || flag == "bitsandbytes") return OnLoadMethod::kNf4;
  return std::nullopt;
}

int NearestCode(const float* codebook, int size, float x) {
  const float* hi = std::lower_bound(codebook, codebook + size, x);
  if (hi == codebook) return 0;
  if (hi == codebook + size) return size - 1;
  const float* lo = hi - 1;
  return (x - *lo) <= (*hi - x) ? static_cast<int>(lo - codebook) : static_cast<int>(hi - codebook);
}

absl::StatusOr<QuantizedLinear> QuantizeOnLoad(const OnLoadQuantization& method,
                                               const std::string& module,
                                               const std::vector<float>& w, int64_t n, int64_t k) {
  if (static_cast<int64_t>(w.size()) != n * k) {
    return absl::InvalidArgumentError(
        absl::StrCat(module, ": ", w.size(), " weights for [", n, ", ", k, "]"));
  }
  for (size_t i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor \"", module, ".weight\" holds ", w[i], " at [", i / k, ", ", i % k,
                       "]; on-load quantization needs finite weights"));
    }
  }
  switch (method.method) {
    case OnLoadMethod::kInt8:
      return QuantizeInt8PerChannel(module, w, n, k);
    case OnLoadMethod::kInt4:
      return QuantizeInt4Grouped(module, w, n, k);
    case OnLoadMethod::kFp8:
      return QuantizeFp8PerChannel(module, w, n, k);
    case OnLoadMethod::kNf4:
      return QuantizeNf4(module, w, n, k, method.nf4_double_quant);
    case OnLoadMethod::kNone:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(module, ": no on-load quantization method"));
}

}  // namespace tessera
