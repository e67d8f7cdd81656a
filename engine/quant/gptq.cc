// GPTQ (AutoGPTQ / GPTQModel): qweight I32 [K/pf, N] packed along the input (input k is field
// k % pf of word row k / pf), qzeros I32 [groups, N/pf] packed along the output, scales
// [groups, N], g_idx I32 [K]; pf = 32 / bits. Checkpoint format "gptq" (v1) stores each zero
// point minus one; "gptq_v2" stores the zero itself. Scales and zeros are indexed through g_idx
// (with desc_act the members of a group are scattered over the input). Layout as documented by the
// fixtures README, after vLLM's GPTQ reader.
#include "absl/strings/str_cat.h"
#include "engine/quant/quant_tensors.h"
#include "engine/quant/quantized_linear.h"

namespace tessera {

absl::StatusOr<QuantizedLinear> LoadGptqLinear(const Checkpoint& checkpoint,
                                               const QuantScheme& scheme, bool gptq_v2,
                                               const std::string& module, int64_t out_features,
                                               int64_t in_features) {
  QuantizedLinear q;
  q.module = module;
  q.format = gptq_v2 ? "GPTQ v2" : "GPTQ v1";
  q.values_tensor = module + ".qweight";
  q.zeros_tensor = module + ".qzeros";
  q.scales_tensor = module + ".scales";
  q.g_idx_tensor = module + ".g_idx";
  q.bits = scheme.bits;
  q.out_features = out_features;
  q.in_features = in_features;
  const int64_t n = out_features, k = in_features;
  if (scheme.bits != 4 && scheme.bits != 8) {
    return TensorError(checkpoint, q.values_tensor, "(GPTQ): bits must be 4 or 8");
  }
  const int64_t pf = 32 / scheme.bits;
  if (k % pf != 0 || n % pf != 0) {
    return TensorError(
        checkpoint, q.values_tensor,
        absl::StrCat("(GPTQ): [", n, ", ", k, "] is not packable by ", pf, " values per word"));
  }
  absl::StatusOr<int64_t> gs = ResolveGroupSize(checkpoint, q.values_tensor, scheme.group_size, k);
  if (!gs.ok()) return gs.status();
  q.group_size = *gs;
  const int64_t groups = k / q.group_size;
  absl::StatusOr<const TensorView*> qweight = GetQuantTensor(
      checkpoint, q.values_tensor, QuantTensorKind::kI32, {k / pf, n}, "GPTQ weights");
  if (!qweight.ok()) return qweight.status();
  absl::StatusOr<const TensorView*> qzeros = GetQuantTensor(
      checkpoint, q.zeros_tensor, QuantTensorKind::kI32, {groups, n / pf}, "GPTQ zero points");
  if (!qzeros.ok()) return qzeros.status();
  absl::StatusOr<const TensorView*> scales = GetQuantTensor(
      checkpoint, q.scales_tensor, QuantTensorKind::kFloat, {groups, n}, "GPTQ scales");
  if (!scales.ok()) return scales.status();
  // desc_act needs g_idx; without it g_idx, when present, must still be read (it may differ from
  // k / G, and the README's rule is to index through it).
  if (checkpoint.Find(q.g_idx_tensor) != nullptr || scheme.act_order) {
    absl::StatusOr<const TensorView*> g_idx =
        GetQuantTensor(checkpoint, q.g_idx_tensor, QuantTensorKind::kI32, {k}, "GPTQ g_idx");
    if (!g_idx.ok()) return g_idx.status();
    const std::vector<uint32_t> words = ReadWords(**g_idx);
    q.g_idx.assign(words.begin(), words.end());  // reinterpreted as signed; Validate checks range
  }

  const std::vector<uint32_t> w = ReadWords(**qweight);
  const std::vector<uint32_t> z = ReadWords(**qzeros);
  const uint32_t offset = gptq_v2 ? 0 : 1;
  q.values.resize(static_cast<size_t>(n * k));
  for (int64_t in = 0; in < k; ++in) {
    for (int64_t out = 0; out < n; ++out) {
      q.values[static_cast<size_t>(out * k + in)] = static_cast<uint8_t>(
          Field(w[static_cast<size_t>((in / pf) * n + out)], in % pf, scheme.bits));
    }
  }
  q.zeros.resize(static_cast<size_t>(groups * n));
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t out = 0; out < n; ++out) {
      q.zeros[static_cast<size_t>(g * n + out)] = static_cast<float>(
          Field(z[static_cast<size_t>(g * (n / pf) + out / pf)], out % pf, scheme.bits) + offset);
    }
  }
  q.scales = ReadFloats(**scales);
  return q;
}

}  // namespace tessera
