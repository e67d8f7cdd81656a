// AWQ "gemm" (AutoAWQ): qweight I32 [K, N/8], qzeros I32 [K/G, N/8], scales [K/G, N].
// Output column 8c+j of word c sits in field kAwqField[j] (AutoAWQ writes columns
// 0, 2, 4, 6, 1, 3, 5, 7 into fields 0..7); qzeros use the same order. Zero points are stored as
// they are. Layout as documented by the fixtures README, after vLLM's AWQ reader.
#include "absl/strings/str_cat.h"
#include "engine/quant/quant_tensors.h"
#include "engine/quant/quantized_linear.h"

namespace tessera {
namespace {

constexpr int kAwqField[8] = {0, 4, 1, 5, 2, 6, 3, 7};

}  // namespace

absl::StatusOr<QuantizedLinear> LoadAwqLinear(const Checkpoint& checkpoint,
                                              const QuantScheme& scheme, const std::string& module,
                                              int64_t out_features, int64_t in_features) {
  QuantizedLinear q;
  q.module = module;
  q.format = "AWQ";
  q.values_tensor = module + ".qweight";
  q.zeros_tensor = module + ".qzeros";
  q.scales_tensor = module + ".scales";
  q.bits = scheme.bits;
  q.out_features = out_features;
  q.in_features = in_features;
  const int64_t n = out_features, k = in_features;
  if (scheme.bits != 4) {
    return TensorError(checkpoint, q.values_tensor, "(AWQ): only 4-bit AWQ is supported");
  }
  if (n % 8 != 0) {
    return TensorError(checkpoint, q.values_tensor,
                       absl::StrCat("(AWQ): output size ", n, " is not a multiple of 8"));
  }
  absl::StatusOr<int64_t> gs = ResolveGroupSize(checkpoint, q.values_tensor, scheme.group_size, k);
  if (!gs.ok()) return gs.status();
  q.group_size = *gs;
  const int64_t groups = k / q.group_size;
  absl::StatusOr<const TensorView*> qweight =
      GetQuantTensor(checkpoint, q.values_tensor, QuantTensorKind::kI32, {k, n / 8}, "AWQ weights");
  if (!qweight.ok()) return qweight.status();
  absl::StatusOr<const TensorView*> qzeros = GetQuantTensor(
      checkpoint, q.zeros_tensor, QuantTensorKind::kI32, {groups, n / 8}, "AWQ zero points");
  if (!qzeros.ok()) return qzeros.status();
  absl::StatusOr<const TensorView*> scales = GetQuantTensor(
      checkpoint, q.scales_tensor, QuantTensorKind::kFloat, {groups, n}, "AWQ scales");
  if (!scales.ok()) return scales.status();

  const std::vector<uint32_t> w = ReadWords(**qweight);
  const std::vector<uint32_t> z = ReadWords(**qzeros);
  q.values.resize(static_cast<size_t>(n * k));
  for (int64_t row = 0; row < k; ++row) {  // input k
    for (int64_t col = 0; col < n; ++col) {
      q.values[static_cast<size_t>(col * k + row)] = static_cast<uint8_t>(
          Field(w[static_cast<size_t>(row * (n / 8) + col / 8)], kAwqField[col % 8], 4));
    }
  }
  q.zeros.resize(static_cast<size_t>(groups * n));
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t col = 0; col < n; ++col) {
      q.zeros[static_cast<size_t>(g * n + col)] = static_cast<float>(
          Field(z[static_cast<size_t>(g * (n / 8) + col / 8)], kAwqField[col % 8], 4));
    }
  }
  q.scales = ReadFloats(**scales);
  return q;
}

}  // namespace tessera
