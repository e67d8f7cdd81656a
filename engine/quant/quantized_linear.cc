#include "engine/quant/quantized_linear.h"

#include <array>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/dtype.h"

namespace tessera {
namespace {

absl::Status Bad(const std::string& tensor, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("tensor \"", tensor, "\" ", message));
}

// Validate() for NF4's flat blocks.
absl::Status ValidateFlatBlocks(const QuantizedLinear& q) {
  const int64_t n = q.out_features, k = q.in_features;
  if (n <= 0 || k <= 0) {
    return Bad(q.values_tensor, absl::StrCat("(", q.format, "): shape [", n, ", ", k, "]"));
  }
  if (q.codebook.size() != (size_t{1} << q.bits) || !q.g_idx.empty() || !q.zeros.empty()) {
    return Bad(q.values_tensor, absl::StrCat("(", q.format, "): expected a ", size_t{1} << q.bits,
                                             "-entry code book and no zero points or g_idx"));
  }
  if (static_cast<int64_t>(q.values.size()) != n * k) {
    return Bad(q.values_tensor,
               absl::StrCat("holds ", q.values.size(), " values, expected ", n * k));
  }
  if (static_cast<int64_t>(q.scales.size()) != q.num_scales()) {
    return Bad(q.scales_tensor,
               absl::StrCat("holds ", q.scales.size(), " scales, expected ", q.num_scales()));
  }
  // A zero absmax is legitimate here: the block holds zeros (bitsandbytes stores it so).
  for (size_t i = 0; i < q.scales.size(); ++i) {
    if (!std::isfinite(q.scales[i])) {
      return Bad(q.scales_tensor,
                 absl::StrCat("has scale ", q.scales[i], " for block ", i, ": must be finite"));
    }
  }
  for (size_t i = 0; i < q.values.size(); ++i) {
    if (q.values[i] >= q.codebook.size()) {
      return Bad(q.values_tensor,
                 absl::StrCat("holds code ", q.values[i], " at [", i / k, ", ", i % k,
                              "], outside the ", q.codebook.size(), "-entry code book"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status QuantizedLinear::Validate() const {
  if (bits != 4 && bits != 8) {
    return Bad(values_tensor, absl::StrCat("(", format, "): ", bits, " bits; expected 4 or 8"));
  }
  if (flat_blocks()) return ValidateFlatBlocks(*this);
  const int64_t n = out_features, k = in_features;
  if (!codebook.empty()) return Bad(values_tensor, "has a code book without flat blocks");
  if (n <= 0 || k <= 0 || group_size <= 0 || k % group_size != 0) {
    return Bad(values_tensor, absl::StrCat("(", format, "): group size ", group_size,
                                           " does not divide the input size ", k));
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
  if (flat_blocks()) {
    for (size_t i = 0; i < w.size(); ++i) {
      w[i] = codebook[values[i]] * scales[i / static_cast<size_t>(block_size)];
    }
    return w;
  }
  // FP8 bytes through a table: decoding each with ldexp cost twice the whole loop.
  std::array<float, 256> fp8{};
  if (is_float) {
    for (int b = 0; b < 256; ++b) fp8[b] = Fp8E4M3ToFloat(static_cast<uint8_t>(b));
  }
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t col = 0; col < k; ++col) {
      const int64_t g = g_idx.empty() ? col / group_size : g_idx[col];
      const size_t sz = static_cast<size_t>(g * n + row);
      const uint8_t v = values[static_cast<size_t>(row * k + col)];
      const float q = is_float ? fp8[v] : static_cast<float>(v) - zeros[sz];
      w[static_cast<size_t>(row * k + col)] = q * scales[sz];
    }
  }
  return w;
}

std::string QuantizedLinear::Label() const {
  if (flat_blocks()) return absl::StrCat("nf4 b", block_size, " ", format);
  const std::string kind = is_float ? "fp8" : absl::StrCat("int", bits);
  // FP8 without groups or channels has one scale for the whole tensor.
  const std::string grouping =
      per_channel ? std::string("channel")
      : is_float && group_size == in_features
          ? std::string("tensor")
          : absl::StrCat("g", group_size, g_idx.empty() ? "" : " act-order");
  return absl::StrCat(kind, " ", grouping, " ", format);
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
  q->per_channel = scheme.group_size == -1 && !scheme.tensor_scale;
  // What the checkpoint stores for this Linear (the GPU kernels keep the same packed sizes).
  q->stored_bytes = 0;
  for (const std::string* name :
       {&q->values_tensor, &q->scales_tensor, &q->zeros_tensor, &q->g_idx_tensor}) {
    if (const TensorView* t = name->empty() ? nullptr : checkpoint.Find(*name); t != nullptr) {
      q->stored_bytes += static_cast<int64_t>(t->data.size());
    }
  }
  return q;
}

}  // namespace tessera
