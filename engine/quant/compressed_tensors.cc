// compressed-tensors (llm-compressor), weight-only schemes:
// - "pack-quantized" int4/int8: weight_packed I32 [N, K/pf] (input k in field k % pf of word
//   k / pf) storing q + 2^(b-1); weight_scale [N, K/G] ([N, 1] per channel); weight_shape I64 [2]
//   = [N, K]; weight_zero_point I32 [N/pf, K/G] packed along the output, stored with the same
//   offset, only when asymmetric; weight_g_idx I32 [K] with actorder "group".
// - "float-quantized" FP8 E4M3: weight F8_E4M3 [N, K], weight_scale [N, 1] (channel) or one value
//   (tensor).
// Layouts as documented by the fixtures README, after vLLM's compressed-tensors readers.
#include "absl/strings/str_cat.h"
#include "engine/quant/quant_tensors.h"
#include "engine/quant/quantized_linear.h"

namespace tessera {
namespace {

absl::StatusOr<QuantizedLinear> LoadFp8(const Checkpoint& checkpoint, const QuantScheme& scheme,
                                        QuantizedLinear q) {
  const int64_t n = q.out_features, k = q.in_features;
  q.format = "compressed-tensors FP8";
  q.values_tensor = q.module + ".weight";
  q.scales_tensor = q.module + ".weight_scale";
  q.is_float = true;
  q.bits = 8;
  q.group_size = k;
  absl::StatusOr<const TensorView*> weight =
      GetQuantTensor(checkpoint, q.values_tensor, QuantTensorKind::kFp8, {n, k}, "FP8 weights");
  if (!weight.ok()) return weight.status();
  const TensorView* scale = checkpoint.Find(q.scales_tensor);
  std::vector<int64_t> want = {n, 1};
  if (scheme.tensor_scale && scale != nullptr && scale->NumElements() == 1) want = scale->shape;
  absl::StatusOr<const TensorView*> scales =
      GetQuantTensor(checkpoint, q.scales_tensor, QuantTensorKind::kFloat, want,
                     scheme.tensor_scale ? "FP8 tensor scale" : "FP8 per-channel scales");
  if (!scales.ok()) return scales.status();
  if (scheme.tensor_scale && (*scales)->NumElements() != 1) {
    return TensorError(checkpoint, q.scales_tensor, "(FP8 tensor scale) must hold one value");
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>((*weight)->data.data());
  q.values.assign(bytes, bytes + n * k);
  q.scales = ReadFloats(**scales);
  if (scheme.tensor_scale) q.scales.assign(static_cast<size_t>(n), q.scales[0]);
  return q;
}

}  // namespace

absl::StatusOr<QuantizedLinear> LoadCompressedTensorsLinear(const Checkpoint& checkpoint,
                                                            const QuantScheme& scheme,
                                                            const std::string& module,
                                                            int64_t out_features,
                                                            int64_t in_features) {
  QuantizedLinear q;
  q.module = module;
  q.out_features = out_features;
  q.in_features = in_features;
  if (scheme.is_float) return LoadFp8(checkpoint, scheme, std::move(q));

  const int64_t n = out_features, k = in_features;
  q.format = absl::StrCat("compressed-tensors int", scheme.bits);
  q.values_tensor = module + ".weight_packed";
  q.scales_tensor = module + ".weight_scale";
  q.zeros_tensor = module + ".weight_zero_point";
  q.g_idx_tensor = module + ".weight_g_idx";
  q.bits = scheme.bits;
  if (scheme.bits != 4 && scheme.bits != 8) {
    return TensorError(checkpoint, q.values_tensor, "(compressed-tensors): bits must be 4 or 8");
  }
  const int64_t pf = 32 / scheme.bits;
  if (k % pf != 0) {
    return TensorError(
        checkpoint, q.values_tensor,
        absl::StrCat("(compressed-tensors): input size ", k, " is not a multiple of ", pf));
  }
  absl::StatusOr<int64_t> gs = ResolveGroupSize(checkpoint, q.values_tensor, scheme.group_size, k);
  if (!gs.ok()) return gs.status();
  q.group_size = *gs;
  const int64_t groups = k / q.group_size;
  absl::StatusOr<const TensorView*> packed = GetQuantTensor(
      checkpoint, q.values_tensor, QuantTensorKind::kI32, {n, k / pf}, "packed int weights");
  if (!packed.ok()) return packed.status();
  const std::string shape_name = module + ".weight_shape";
  absl::StatusOr<const TensorView*> shape =
      GetQuantTensor(checkpoint, shape_name, QuantTensorKind::kI64, {2}, "weight shape");
  if (!shape.ok()) return shape.status();
  if (const std::vector<int64_t> s = ReadInt64(**shape); s[0] != n || s[1] != k) {
    return TensorError(
        checkpoint, shape_name,
        absl::StrCat("says [", s[0], ", ", s[1], "], but the model needs [", n, ", ", k, "]"));
  }
  absl::StatusOr<const TensorView*> scales = GetQuantTensor(
      checkpoint, q.scales_tensor, QuantTensorKind::kFloat, {n, groups}, "int weight scales");
  if (!scales.ok()) return scales.status();

  const std::vector<uint32_t> w = ReadWords(**packed);
  q.values.resize(static_cast<size_t>(n * k));
  for (int64_t out = 0; out < n; ++out) {
    for (int64_t in = 0; in < k; ++in) {
      q.values[static_cast<size_t>(out * k + in)] = static_cast<uint8_t>(
          Field(w[static_cast<size_t>(out * (k / pf) + in / pf)], in % pf, scheme.bits));
    }
  }
  // Scales arrive [N, groups]; the canonical layout is [groups, N].
  const std::vector<float> s = ReadFloats(**scales);
  q.scales.resize(s.size());
  for (int64_t out = 0; out < n; ++out) {
    for (int64_t g = 0; g < groups; ++g) q.scales[g * n + out] = s[out * groups + g];
  }
  q.zeros.assign(static_cast<size_t>(groups * n), static_cast<float>(1 << (scheme.bits - 1)));
  if (!scheme.symmetric) {
    if (n % pf != 0) {
      return TensorError(
          checkpoint, q.zeros_tensor,
          absl::StrCat("(compressed-tensors): output size ", n, " is not a multiple of ", pf));
    }
    absl::StatusOr<const TensorView*> zp = GetQuantTensor(
        checkpoint, q.zeros_tensor, QuantTensorKind::kI32, {n / pf, groups}, "int zero points");
    if (!zp.ok()) return zp.status();
    const std::vector<uint32_t> z = ReadWords(**zp);
    for (int64_t out = 0; out < n; ++out) {
      for (int64_t g = 0; g < groups; ++g) {
        q.zeros[g * n + out] = static_cast<float>(
            Field(z[static_cast<size_t>((out / pf) * groups + g)], out % pf, scheme.bits));
      }
    }
  }
  if (scheme.act_order) {
    absl::StatusOr<const TensorView*> g_idx =
        GetQuantTensor(checkpoint, q.g_idx_tensor, QuantTensorKind::kI32, {k}, "group index");
    if (!g_idx.ok()) return g_idx.status();
    const std::vector<uint32_t> words = ReadWords(**g_idx);
    q.g_idx.assign(words.begin(), words.end());
  }
  return q;
}

}  // namespace tessera
