#include "authoring/quant_checkpoint_writer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/checkpoint.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

// AWQ "gemm" word c holds output columns 8c..8c+7; column 8c+j goes to field kAwqField[j]
// (README: AutoAWQ writes column [0, 2, 4, 6, 1, 3, 5, 7][i] into field i).
constexpr std::array<int, 8> kAwqField = {0, 4, 1, 5, 2, 6, 3, 7};

constexpr double kFp8Max = 448.0;

absl::Status Invalid(const std::string& module, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(module, ": ", message));
}

const char* FormatName(QuantFormat f) {
  switch (f) {
    case QuantFormat::kAwq:
      return "AWQ";
    case QuantFormat::kGptq:
      return "GPTQ";
    case QuantFormat::kCompressedInt:
      return "compressed-tensors pack-quantized";
    case QuantFormat::kCompressedFloat8:
      return "compressed-tensors float-quantized";
  }
  return "?";
}

// `x` rounded to the nearest value of a float dtype (F32: unchanged).
float RoundTo(DType dtype, float x) {
  if (dtype == DType::kBF16) return Bf16ToFloat(FloatToBf16(x));
  if (dtype == DType::kF16) return F16ToFloat(FloatToF16(x));
  return x;
}

// Little-endian bytes of `v` in float dtype `dtype` (the values are already representable).
std::string EncodeFloats(DType dtype, const std::vector<float>& v) {
  std::string out;
  out.reserve(v.size() * DTypeSize(dtype));
  for (float x : v) {
    if (dtype == DType::kF32) {
      out.append(reinterpret_cast<const char*>(&x), 4);
    } else {
      const uint16_t h = dtype == DType::kBF16 ? FloatToBf16(x) : FloatToF16(x);
      out.append(reinterpret_cast<const char*>(&h), 2);
    }
  }
  return out;
}

template <typename T>
std::string EncodeInts(const std::vector<T>& v) {
  std::string out(v.size() * sizeof(T), '\0');
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// The non-negative finite float8_e4m3fn values, by code 0x00..0x7E (increasing): exponent field
// e (bias 7) and mantissa m give m * 2^-9 for e = 0 (subnormal), else (8 + m) * 2^(e - 10).
const std::array<double, 127>& Fp8Values() {
  static const std::array<double, 127> values = [] {
    std::array<double, 127> v{};
    for (int c = 0; c < 127; ++c) {
      const int e = c >> 3, m = c & 7;
      v[c] = e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10);
    }
    return v;
  }();
  return values;
}

// Round to nearest (ties to the even code), saturating at +-448; the sign is kept.
uint8_t EncodeFp8(double x) {
  const std::array<double, 127>& v = Fp8Values();
  const double a = std::fabs(x);
  int code = 126;
  if (a < kFp8Max) {
    const int hi = static_cast<int>(std::upper_bound(v.begin(), v.end(), a) - v.begin());
    const int lo = hi - 1;  // v[lo] <= a < v[hi]
    const double dlo = a - v[lo], dhi = v[hi] - a;
    code = dlo < dhi ? lo : dhi < dlo ? hi : (lo % 2 == 0 ? lo : hi);
  }
  if (std::signbit(x)) code |= 0x80;  // as torch converts: -0 and tiny negatives give 0x80
  return static_cast<uint8_t>(code);
}

float DecodeFp8(uint8_t code) {
  const float v = static_cast<float>(Fp8Values()[code & 0x7f]);
  return (code & 0x80) != 0 ? -v : v;
}

// The group of each input: group_size consecutive inputs, of K in order or of a seeded shuffle.
std::vector<int32_t> GroupIndex(int64_t k, int64_t group_size, bool act_order, uint64_t seed) {
  std::vector<int32_t> order(k);
  std::iota(order.begin(), order.end(), 0);
  if (act_order) std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  std::vector<int32_t> g_idx(k);
  for (int64_t i = 0; i < k; ++i) g_idx[order[i]] = static_cast<int32_t>(i / group_size);
  return g_idx;
}

// Unsigned integer codes of one Linear: W[n][k] ~ (codes[n][k] - zeros[g][n]) * scales[g][n].
struct IntCodes {
  std::vector<uint32_t> codes;  // [N, K]
  std::vector<uint32_t> zeros;  // [groups, N]
  std::vector<float> scales;    // [groups, N], representable in the scale dtype
  std::vector<float> dequantized;
};

// Symmetric: scale = absmax / (2^(b-1) - 1), codes round(w / scale) + 2^(b-1), zero 2^(b-1).
// Affine (zero_point): the range [min(w, 0), max(w, 0)] over 2^b - 1 steps, zero round(-min /
// scale), so that 0 is exactly representable (as compressed-tensors' min/max observer does).
absl::StatusOr<IntCodes> QuantizeInt(const std::string& module, absl::Span<const float> w,
                                     int64_t n, int64_t k, int64_t group_size,
                                     const std::vector<int32_t>& g_idx, int32_t bits,
                                     bool zero_point, DType scale_dtype) {
  const int64_t groups = k / group_size;
  std::vector<std::vector<int64_t>> members(groups);
  for (int64_t i = 0; i < k; ++i) members[g_idx[i]].push_back(i);
  const int64_t maxq = (int64_t{1} << bits) - 1;
  const int64_t half = int64_t{1} << (bits - 1);

  IntCodes out;
  out.codes.resize(n * k);
  out.zeros.resize(groups * n);
  out.scales.resize(groups * n);
  out.dequantized.resize(n * k);
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t g = 0; g < groups; ++g) {
      double lo = 0, hi = 0, absmax = 0;
      for (int64_t i : members[g]) {
        const double x = w[row * k + i];
        lo = std::min(lo, x);
        hi = std::max(hi, x);
        absmax = std::max(absmax, std::fabs(x));
      }
      double raw = zero_point ? (hi - lo) / static_cast<double>(maxq)
                              : absmax / static_cast<double>(half - 1);
      if (raw == 0) raw = 1;  // an all-zero group: any scale encodes it
      const float scale = RoundTo(scale_dtype, static_cast<float>(raw));
      if (scale == 0 || !std::isfinite(scale)) {
        return Invalid(module, absl::StrCat("the scale of row ", row, " group ", g, " (", raw,
                                            ") is not representable in ", DTypeName(scale_dtype)));
      }
      int64_t zero = half;
      if (zero_point) {
        zero = std::clamp<int64_t>(static_cast<int64_t>(std::nearbyint(-lo / scale)), 0, maxq);
      }
      out.zeros[g * n + row] = static_cast<uint32_t>(zero);
      out.scales[g * n + row] = scale;
      for (int64_t i : members[g]) {
        const double q = std::nearbyint(static_cast<double>(w[row * k + i]) / scale);
        const int64_t code = std::clamp<int64_t>(static_cast<int64_t>(q) + zero, 0, maxq);
        out.codes[row * k + i] = static_cast<uint32_t>(code);
        out.dequantized[row * k + i] = static_cast<float>(code - zero) * scale;
      }
    }
  }
  return out;
}

// Packs `count` fields of `bits` each into one word: field i = value(i), field 0 lowest.
template <typename F>
uint32_t PackWord(int64_t count, int32_t bits, F value) {
  uint32_t word = 0;
  for (int64_t i = 0; i < count; ++i) word |= value(i) << (bits * i);
  return word;
}

TensorToWrite Tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                     std::string bytes) {
  return TensorToWrite{name, dtype, std::move(shape), std::move(bytes)};
}

absl::StatusOr<QuantizedLinearTensors> WriteAwq(const std::string& module, const IntCodes& c,
                                                int64_t n, int64_t k, int64_t groups) {
  // Row r of [rows, n / 8] words from value(r, column).
  auto pack = [&](int64_t rows, auto value) {
    std::vector<uint32_t> words;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t word = 0; word < n / 8; ++word) {
        uint32_t packed = 0;
        for (int j = 0; j < 8; ++j) packed |= value(r, 8 * word + j) << (4 * kAwqField[j]);
        words.push_back(packed);
      }
    return words;
  };
  const std::vector<uint32_t> qweight =
      pack(k, [&](int64_t i, int64_t col) { return c.codes[col * k + i]; });
  const std::vector<uint32_t> qzeros =
      pack(groups, [&](int64_t g, int64_t col) { return c.zeros[g * n + col]; });
  QuantizedLinearTensors out;
  out.tensors.push_back(Tensor(module + ".qweight", DType::kI32, {k, n / 8}, EncodeInts(qweight)));
  out.tensors.push_back(
      Tensor(module + ".qzeros", DType::kI32, {groups, n / 8}, EncodeInts(qzeros)));
  out.tensors.push_back(
      Tensor(module + ".scales", DType::kF16, {groups, n}, EncodeFloats(DType::kF16, c.scales)));
  out.dequantized = c.dequantized;
  return out;
}

absl::StatusOr<QuantizedLinearTensors> WriteGptq(const std::string& module, const IntCodes& c,
                                                 int64_t n, int64_t k, int64_t groups, int32_t bits,
                                                 bool v2, const std::vector<int32_t>& g_idx) {
  const int64_t pf = 32 / bits;
  const uint32_t mask = (1u << bits) - 1u;
  std::vector<uint32_t> qweight, qzeros;
  for (int64_t r = 0; r < k / pf; ++r)
    for (int64_t col = 0; col < n; ++col)
      qweight.push_back(
          PackWord(pf, bits, [&](int64_t f) { return c.codes[col * k + r * pf + f]; }));
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t word = 0; word < n / pf; ++word)
      qzeros.push_back(PackWord(pf, bits, [&](int64_t f) {
        const uint32_t zero = c.zeros[g * n + word * pf + f];
        return (v2 ? zero : zero - 1u) & mask;  // v1 ("gptq") stores zero - 1
      }));
  QuantizedLinearTensors out;
  out.tensors.push_back(Tensor(module + ".qweight", DType::kI32, {k / pf, n}, EncodeInts(qweight)));
  out.tensors.push_back(
      Tensor(module + ".qzeros", DType::kI32, {groups, n / pf}, EncodeInts(qzeros)));
  out.tensors.push_back(
      Tensor(module + ".scales", DType::kF16, {groups, n}, EncodeFloats(DType::kF16, c.scales)));
  out.tensors.push_back(Tensor(module + ".g_idx", DType::kI32, {k}, EncodeInts(g_idx)));
  out.dequantized = c.dequantized;
  return out;
}

absl::StatusOr<QuantizedLinearTensors> WriteCompressedInt(const std::string& module,
                                                          const IntCodes& c,
                                                          const QuantWriteScheme& scheme, int64_t n,
                                                          int64_t k, int64_t groups,
                                                          const std::vector<int32_t>& g_idx) {
  const int32_t bits = scheme.bits;
  const int64_t pf = 32 / bits;
  std::vector<uint32_t> packed;
  for (int64_t row = 0; row < n; ++row)
    for (int64_t word = 0; word < k / pf; ++word)
      packed.push_back(
          PackWord(pf, bits, [&](int64_t f) { return c.codes[row * k + word * pf + f]; }));
  std::vector<float> scale(n * groups);  // [N, groups]
  for (int64_t row = 0; row < n; ++row)
    for (int64_t g = 0; g < groups; ++g) scale[row * groups + g] = c.scales[g * n + row];
  QuantizedLinearTensors out;
  out.tensors.push_back(
      Tensor(module + ".weight_packed", DType::kI32, {n, k / pf}, EncodeInts(packed)));
  out.tensors.push_back(Tensor(module + ".weight_scale", scheme.scale_dtype, {n, groups},
                               EncodeFloats(scheme.scale_dtype, scale)));
  out.tensors.push_back(
      Tensor(module + ".weight_shape", DType::kI64, {2}, EncodeInts(std::vector<int64_t>{n, k})));
  if (!scheme.symmetric) {
    // Signed zero points, offset by 2^(b-1) like the weights: the unsigned zero itself.
    std::vector<uint32_t> zp;
    for (int64_t word = 0; word < n / pf; ++word)
      for (int64_t g = 0; g < groups; ++g)
        zp.push_back(PackWord(pf, bits, [&](int64_t f) { return c.zeros[g * n + word * pf + f]; }));
    out.tensors.push_back(
        Tensor(module + ".weight_zero_point", DType::kI32, {n / pf, groups}, EncodeInts(zp)));
  }
  if (scheme.act_order) {
    out.tensors.push_back(Tensor(module + ".weight_g_idx", DType::kI32, {k}, EncodeInts(g_idx)));
  }
  out.dequantized = c.dequantized;
  return out;
}

absl::StatusOr<QuantizedLinearTensors> WriteFloat8(const std::string& module,
                                                   const QuantWriteScheme& scheme,
                                                   absl::Span<const float> w, int64_t n,
                                                   int64_t k) {
  const int64_t scales = scheme.fp8_tensor_scale ? 1 : n;
  const int64_t rows_per_scale = n / scales;
  std::vector<float> scale(scales);
  for (int64_t s = 0; s < scales; ++s) {
    double absmax = 0;
    for (int64_t i = s * rows_per_scale * k; i < (s + 1) * rows_per_scale * k; ++i)
      absmax = std::max(absmax, std::fabs(static_cast<double>(w[i])));
    const double raw = absmax == 0 ? 1 : absmax / kFp8Max;
    scale[s] = RoundTo(scheme.scale_dtype, static_cast<float>(raw));
    if (scale[s] == 0 || !std::isfinite(scale[s])) {
      return Invalid(module,
                     absl::StrCat("the scale of row ", s, " (", raw, ") is not representable in ",
                                  DTypeName(scheme.scale_dtype)));
    }
  }
  std::string bytes(n * k, '\0');
  QuantizedLinearTensors out;
  out.dequantized.resize(n * k);
  for (int64_t i = 0; i < n * k; ++i) {
    const float s = scale[(i / k) / rows_per_scale];
    const uint8_t code = EncodeFp8(static_cast<double>(w[i]) / s);
    bytes[i] = static_cast<char>(code);
    out.dequantized[i] = DecodeFp8(code) * s;
  }
  out.tensors.push_back(Tensor(module + ".weight", DType::kF8E4M3, {n, k}, std::move(bytes)));
  std::vector<int64_t> scale_shape =
      scheme.fp8_tensor_scale ? std::vector<int64_t>{1} : std::vector<int64_t>{n, 1};
  out.tensors.push_back(Tensor(module + ".weight_scale", scheme.scale_dtype, scale_shape,
                               EncodeFloats(scheme.scale_dtype, scale)));
  return out;
}

// Scheme checks shared by QuantizeLinearTensors and QuantizationConfigJson.
absl::Status CheckScheme(const QuantWriteScheme& s, const std::string& what) {
  const std::string name = FormatName(s.format);
  if (!IsFloatWeightDType(s.scale_dtype)) {
    return Invalid(what, absl::StrCat("scale dtype ", DTypeName(s.scale_dtype), " is not a float"));
  }
  if (s.group_size == 0 || s.group_size < -1) {
    return Invalid(what, absl::StrCat("group size ", s.group_size, " (expected > 0 or -1)"));
  }
  switch (s.format) {
    case QuantFormat::kAwq:
      if (s.bits != 4) return Invalid(what, absl::StrCat(name, " is 4-bit, not ", s.bits));
      if (s.act_order) return Invalid(what, "AWQ has no act order");
      return absl::OkStatus();
    case QuantFormat::kGptq:
      if (!s.symmetric) return Invalid(what, "GPTQ is written symmetric");
      [[fallthrough]];
    case QuantFormat::kCompressedInt:
      if (s.bits != 4 && s.bits != 8) {
        return Invalid(what, absl::StrCat(name, " takes 4 or 8 bits, not ", s.bits));
      }
      if (s.format == QuantFormat::kCompressedInt && s.act_order && s.group_size == -1) {
        return Invalid(what, "compressed-tensors actorder \"group\" needs a group size");
      }
      return absl::OkStatus();
    case QuantFormat::kCompressedFloat8:
      if (s.bits != 8) return Invalid(what, absl::StrCat("FP8 is 8-bit, not ", s.bits));
      if (s.act_order || !s.symmetric) return Invalid(what, "FP8 is symmetric with no act order");
      return absl::OkStatus();
  }
  return Invalid(what, "unknown format");
}

}  // namespace

absl::StatusOr<QuantizedLinearTensors> QuantizeLinearTensors(const QuantWriteScheme& scheme,
                                                             const std::string& module,
                                                             absl::Span<const float> w,
                                                             int64_t out_features,
                                                             int64_t in_features) {
  if (absl::Status s = CheckScheme(scheme, module); !s.ok()) return s;
  const int64_t n = out_features, k = in_features;
  if (n <= 0 || k <= 0 || static_cast<int64_t>(w.size()) != n * k) {
    return Invalid(module, absl::StrCat(w.size(), " weights for shape [", n, ", ", k, "]"));
  }
  for (size_t i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i])) return Invalid(module, absl::StrCat("weight ", i, " is not finite"));
  }
  if (scheme.format == QuantFormat::kCompressedFloat8) return WriteFloat8(module, scheme, w, n, k);

  const int64_t group = scheme.group_size == -1 ? k : scheme.group_size;
  if (k % group != 0) {
    return Invalid(module, absl::StrCat("group size ", group, " does not divide ", k, " inputs"));
  }
  const int64_t pf = 32 / scheme.bits;
  const bool packs_inputs = scheme.format != QuantFormat::kAwq;
  const bool packs_outputs = scheme.format != QuantFormat::kCompressedInt || !scheme.symmetric;
  if ((packs_inputs && k % pf != 0) || (packs_outputs && n % pf != 0)) {
    return Invalid(module, absl::StrCat(FormatName(scheme.format), " packs ", pf,
                                        " values per word: shape [", n, ", ", k, "] does not"));
  }
  const std::vector<int32_t> g_idx = GroupIndex(k, group, scheme.act_order, scheme.act_order_seed);
  const bool zero_point = scheme.format == QuantFormat::kAwq ||
                          (scheme.format == QuantFormat::kCompressedInt && !scheme.symmetric);
  const DType scale_dtype =
      scheme.format == QuantFormat::kCompressedInt ? scheme.scale_dtype : DType::kF16;
  absl::StatusOr<IntCodes> codes =
      QuantizeInt(module, w, n, k, group, g_idx, scheme.bits, zero_point, scale_dtype);
  if (!codes.ok()) return codes.status();
  const int64_t groups = k / group;
  switch (scheme.format) {
    case QuantFormat::kAwq:
      return WriteAwq(module, *codes, n, k, groups);
    case QuantFormat::kGptq:
      return WriteGptq(module, *codes, n, k, groups, scheme.bits, scheme.gptq_v2, g_idx);
    default:
      return WriteCompressedInt(module, *codes, scheme, n, k, groups, g_idx);
  }
}

absl::StatusOr<std::string> QuantizationConfigJson(const QuantWriteScheme& s) {
  if (absl::Status st = CheckScheme(s, "quantization_config"); !st.ok()) return st;
  nlohmann::ordered_json j;
  switch (s.format) {
    case QuantFormat::kAwq:  // AutoAWQ's fields
      j["quant_method"] = "awq";
      j["zero_point"] = true;
      j["group_size"] = s.group_size;
      j["bits"] = s.bits;
      j["version"] = "gemm";
      j["modules_to_not_convert"] = nullptr;
      break;
    case QuantFormat::kGptq:  // AutoGPTQ / GPTQModel's fields
      j["quant_method"] = "gptq";
      j["bits"] = s.bits;
      j["group_size"] = s.group_size;
      j["damp_percent"] = 0.01;
      j["desc_act"] = s.act_order;
      j["static_groups"] = false;
      j["sym"] = true;
      j["true_sequential"] = true;
      j["checkpoint_format"] = s.gptq_v2 ? "gptq_v2" : "gptq";
      break;
    case QuantFormat::kCompressedInt:
    case QuantFormat::kCompressedFloat8: {  // llm-compressor's fields
      const bool fp8 = s.format == QuantFormat::kCompressedFloat8;
      nlohmann::ordered_json w;
      w["num_bits"] = s.bits;
      w["type"] = fp8 ? "float" : "int";
      w["symmetric"] = s.symmetric;
      if (fp8) {
        w["strategy"] = s.fp8_tensor_scale ? "tensor" : "channel";
        w["group_size"] = nullptr;
      } else {
        w["strategy"] = s.group_size == -1 ? "channel" : "group";
        w["group_size"] = s.group_size == -1 ? nlohmann::ordered_json(nullptr)
                                             : nlohmann::ordered_json(s.group_size);
      }
      w["dynamic"] = false;
      w["actorder"] = s.act_order ? nlohmann::ordered_json("group") : nlohmann::ordered_json();
      w["observer"] = "minmax";
      nlohmann::ordered_json group;
      group["targets"] = {"Linear"};
      group["weights"] = w;
      group["input_activations"] = nullptr;
      group["output_activations"] = nullptr;
      j["quant_method"] = "compressed-tensors";
      j["format"] = fp8 ? "float-quantized" : "pack-quantized";
      j["quantization_status"] = "compressed";
      j["config_groups"]["group_0"] = group;
      j["ignore"] = {"lm_head"};
      j["kv_cache_scheme"] = nullptr;
      break;
    }
  }
  return j.dump(2);
}

absl::Status WriteQuantizedCheckpoint(const std::string& src_dir, const std::string& dst_dir,
                                      const QuantWriteScheme& scheme,
                                      std::map<std::string, std::vector<float>>* dequantized) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::equivalent(src_dir, dst_dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(dst_dir, ": the source folder itself"));
  }
  absl::StatusOr<ModelConfig> config = LoadModelConfig(src_dir);
  if (!config.ok()) return config.status();
  if (config->quantization.quantized()) {
    return absl::InvalidArgumentError(absl::StrCat(src_dir, ": already quantized"));
  }
  absl::StatusOr<std::string> qconfig = QuantizationConfigJson(scheme);
  if (!qconfig.ok()) return qconfig.status();
  absl::StatusOr<std::unique_ptr<Checkpoint>> ckpt = Checkpoint::Open(src_dir);
  if (!ckpt.ok()) return ckpt.status();

  std::set<std::string> linears;
  for (const WeightSpec& spec : ExpectedWeights(*config)) {
    switch (spec.kind) {
      case WeightKind::kQ:
      case WeightKind::kK:
      case WeightKind::kV:
      case WeightKind::kO:
      case WeightKind::kGate:
      case WeightKind::kUp:
      case WeightKind::kDown:
        linears.insert(spec.name);
        break;
      default:
        break;
    }
  }
  std::vector<TensorToWrite> tensors;
  for (const std::string& name : (*ckpt)->Names()) {
    const TensorView* t = (*ckpt)->Find(name);
    if (!linears.contains(name)) {
      tensors.push_back(
          {name, t->dtype, t->shape,
           std::string(reinterpret_cast<const char*>(t->data.data()), t->data.size())});
      continue;
    }
    const std::string module = name.substr(0, name.size() - std::string(".weight").size());
    if (t->shape.size() != 2 || !IsFloatWeightDType(t->dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": not a float [out, in] weight"));
    }
    std::vector<float> w(t->NumElements());
    ConvertToFloat(t->dtype, t->data.data(), w.size(), w.data());
    absl::StatusOr<QuantizedLinearTensors> q =
        QuantizeLinearTensors(scheme, module, w, t->shape[0], t->shape[1]);
    if (!q.ok()) return q.status();
    for (TensorToWrite& out : q->tensors) tensors.push_back(std::move(out));
    if (dequantized != nullptr) (*dequantized)[module] = std::move(q->dequantized);
  }

  fs::create_directories(dst_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(dst_dir, ": ", ec.message()));
  // Tokenizer and generation files come along; the weights and config are rewritten.
  for (const fs::directory_entry& e : fs::directory_iterator(src_dir, ec)) {
    const std::string file = e.path().filename().string();
    if (!e.is_regular_file() || file == "config.json" || file.ends_with(".safetensors") ||
        file == "model.safetensors.index.json") {
      continue;
    }
    fs::copy_file(e.path(), fs::path(dst_dir) / file, fs::copy_options::overwrite_existing, ec);
    if (ec) return absl::PermissionDeniedError(absl::StrCat(file, ": ", ec.message()));
  }
  if (ec) return absl::PermissionDeniedError(absl::StrCat(src_dir, ": ", ec.message()));
  if (absl::Status s =
          WriteSafetensors(dst_dir + "/model.safetensors", tensors, {{"format", "pt"}});
      !s.ok()) {
    return s;
  }
  std::ifstream in(src_dir + "/config.json", std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(src_dir, "/config.json: not a JSON object"));
  }
  j["quantization_config"] = nlohmann::ordered_json::parse(*qconfig);
  return WriteFileAtomically(dst_dir + "/config.json", j.dump(2) + "\n");
}

}  // namespace tessera
