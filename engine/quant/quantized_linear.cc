#include "engine/quant/quantized_linear.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/dtype.h"

namespace tessera {
namespace {

absl::Status Bad(const std::string& tensor, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("tensor \"", tensor, "\" ", message));
}

}  // namespace

absl::Status QuantizedLinear::Validate() const {
  const int64_t n = out_features, k = in_features;
  if (n <= 0 || k <= 0 || group_size <= 0 || k % group_size != 0) {
    return Bad(values_tensor, absl::StrCat("(", format, "): group size ", group_size,
                                           " does not divide the input size ", k));
  }
  if (bits != 4 && bits != 8) {
    return Bad(values_tensor, absl::StrCat("(", format, "): ", bits, " bits; expected 4 or 8"));
  }
  const int64_t g = num_groups();
  if (static_cast<int64_t>(values.size()) != n * k) {
    return Bad(values_tensor, absl::StrCat("holds ", values.size(), " values, expected ", n * k));
  }
  if (static_cast<int64_t>(scales.size()) != g * n) {
    return Bad(scales_tensor, absl::StrCat("holds ", scales.size(), " scales, expected ", g * n));
  }
  for (size_t i = 0; i < scales.size(); ++i) {
    if (!std::isfinite(scales[i]) || scales[i] == 0.0f) {
      return Bad(scales_tensor,
                 absl::StrCat("has scale ", scales[i], " for output ", i % n, " of group ", i / n,
                              ": scales must be finite and non-zero"));
    }
  }
  if (is_float) {
    if (!zeros.empty()) return Bad(zeros_tensor, "zero points with FP8 weights");
    for (size_t i = 0; i < values.size(); ++i) {
      if ((values[i] & 0x7f) == 0x7f) {
        return Bad(values_tensor, absl::StrCat("holds an FP8 NaN at [", i / k, ", ", i % k, "]"));
      }
    }
  } else if (static_cast<int64_t>(zeros.size()) != g * n) {
    return Bad(zeros_tensor,
               absl::StrCat("holds ", zeros.size(), " zero points, expected ", g * n));
  }
  if (!g_idx.empty()) {
    if (static_cast<int64_t>(g_idx.size()) != k) {
      return Bad(g_idx_tensor, absl::StrCat("has ", g_idx.size(), " entries, expected ", k));
    }
    // The kernels (and exact group statistics) need every group to have group_size members.
    std::vector<int64_t> members(static_cast<size_t>(g), 0);
    for (int64_t i = 0; i < k; ++i) {
      if (g_idx[i] < 0 || g_idx[i] >= g) {
        return Bad(g_idx_tensor,
                   absl::StrCat("gives input ", i, " group ", g_idx[i], ", outside [0, ", g, ")"));
      }
      ++members[g_idx[i]];
    }
    for (int64_t j = 0; j < g; ++j) {
      if (members[j] != group_size) {
        return Bad(g_idx_tensor, absl::StrCat("gives group ", j, " ", members[j],
                                              " inputs; every group needs exactly ", group_size));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> QuantizedLinear::Dequantize() const {
  if (absl::Status s = Validate(); !s.ok()) return s;
  const int64_t n = out_features, k = in_features;
  std::vector<float> w(static_cast<size_t>(n * k));
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t col = 0; col < k; ++col) {
      const int64_t g = g_idx.empty() ? col / group_size : g_idx[col];
      const size_t sz = static_cast<size_t>(g * n + row);
      const uint8_t v = values[static_cast<size_t>(row * k + col)];
      const float q = is_float ? Fp8E4M3ToFloat(v) : static_cast<float>(v) - zeros[sz];
      w[static_cast<size_t>(row * k + col)] = q * scales[sz];
    }
  }
  return w;
}

absl::StatusOr<QuantizedLinear> LoadQuantizedLinear(const Checkpoint& checkpoint,
                                                    const QuantConfig& config,
                                                    const QuantScheme& scheme,
                                                    const std::string& module, int64_t out_features,
                                                    int64_t in_features) {
  absl::StatusOr<QuantizedLinear> q;
  switch (config.method) {
    case QuantMethod::kAwq:
      q = LoadAwqLinear(checkpoint, scheme, module, out_features, in_features);
      break;
    case QuantMethod::kGptq:
      q = LoadGptqLinear(checkpoint, scheme, config.gptq_v2, module, out_features, in_features);
      break;
    case QuantMethod::kCompressedTensors:
      q = LoadCompressedTensorsLinear(checkpoint, scheme, module, out_features, in_features);
      break;
    case QuantMethod::kNone:
      return absl::InvalidArgumentError(absl::StrCat(module, ": the checkpoint is not quantized"));
  }
  if (!q.ok()) return q.status();
  if (absl::Status s = q->Validate(); !s.ok()) {
    const std::string file = checkpoint.FileOf(q->values_tensor);
    return absl::InvalidArgumentError(
        absl::StrCat(file.empty() ? "checkpoint" : file, ": ", s.message()));
  }
  return q;
}

}  // namespace tessera
