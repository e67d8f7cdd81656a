// The format loaders: every unpacker against the fixtures' exactly dequantized layer-0 q_proj, and
// synthetic checkpoints packed here from the layouts in ../shared/fixtures/README.md (round trips
// of every scheme, then hostile variants that must fail with the tensor named).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "authoring/safetensors_writer.h"
#include "engine/checkpoint.h"
#include "engine/model_config.h"
#include "engine/quant/quantized_linear.h"
#include "engine/safetensors.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

const std::string kFixtures = TESSERA_FIXTURES_DIR;
const std::string kModule = "model.layers.0.self_attn.q_proj";

// --- The fixtures' own layer-0 q_proj ------------------------------------------------------------

class FixtureUnpackTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureUnpackTest, Layer0QProjMatchesExpectedDequant) {
  std::string dir = kFixtures + "/models/" + GetParam();
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << dir << " not found";
  dir = testing::FixtureModelDir(dir);  // a copy of the fixtures may have lost its links
  absl::StatusOr<ModelConfig> config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->quantization.quantized());
  absl::StatusOr<std::unique_ptr<Checkpoint>> ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  const QuantScheme* scheme = config->quantization.SchemeFor(kModule);
  ASSERT_NE(scheme, nullptr);
  absl::StatusOr<QuantizedLinear> q = LoadQuantizedLinear(
      **ckpt, config->quantization, *scheme, kModule, config->q_size(), config->hidden_size);
  ASSERT_TRUE(q.ok()) << q.status();
  absl::StatusOr<std::vector<float>> got = q->Dequantize();
  ASSERT_TRUE(got.ok()) << got.status();

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> expected =
      SafetensorsFile::Open(dir + "/expected_dequant_layer0_q_proj.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status();
  const TensorView* want = (*expected)->Find("weight");
  ASSERT_NE(want, nullptr);
  ASSERT_EQ(want->shape, (std::vector<int64_t>{256, 128}));
  std::vector<float> w(256 * 128);
  ConvertToFloat(want->dtype, want->data.data(), w.size(), w.data());
  ASSERT_EQ(got->size(), w.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < w.size(); ++i) mismatches += (*got)[i] != w[i];
  EXPECT_EQ(mismatches, 0u) << "first: " << [&] {
    for (size_t i = 0; i < w.size(); ++i)
      if ((*got)[i] != w[i])
        return std::to_string(i) + " got " + std::to_string((*got)[i]) + " want " +
               std::to_string(w[i]);
    return std::string();
  }();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureUnpackTest,
                         ::testing::Values("quant-llama-awq", "quant-llama-gptq",
                                           "quant-llama-fp8"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// --- Synthetic checkpoints -----------------------------------------------------------------------

// Integer codes, zero points and scales of one Linear, and what it dequantizes to (double).
struct IntLinear {
  int64_t n = 0, k = 0, g = 0;  // outputs, inputs, group size
  int bits = 4;
  std::vector<uint32_t> q;     // [n][k] codes as stored (unsigned)
  std::vector<uint32_t> z;     // [groups][n] zero points as dequantization uses them
  std::vector<float> s;        // [groups][n], F16- and BF16-representable
  std::vector<int32_t> g_idx;  // [k]

  int64_t groups() const { return k / g; }
  double W(int64_t row, int64_t col) const {
    const int64_t grp = g_idx[col];
    return (double{static_cast<double>(q[row * k + col])} - z[grp * n + row]) * s[grp * n + row];
  }
};

IntLinear RandomInt(int64_t n, int64_t k, int64_t g, int bits, bool shuffle_groups, uint32_t seed) {
  std::mt19937 rng(seed);
  IntLinear l{n, k, g, bits};
  const uint32_t levels = 1u << bits;
  for (int64_t i = 0; i < n * k; ++i) l.q.push_back(rng() % levels);
  for (int64_t i = 0; i < l.groups() * n; ++i) {
    l.z.push_back(rng() % levels);
    // 4 significant bits: exact in F16 and BF16 alike.
    l.s.push_back(std::ldexp(static_cast<float>(8 + rng() % 8), -static_cast<int>(8 + rng() % 6)));
  }
  for (int64_t i = 0; i < k; ++i) l.g_idx.push_back(static_cast<int32_t>(i / g));
  if (shuffle_groups) std::shuffle(l.g_idx.begin(), l.g_idx.end(), rng);
  return l;
}

std::string Words(const std::vector<uint32_t>& w) {
  std::string b(w.size() * 4, '\0');
  std::memcpy(b.data(), w.data(), b.size());
  return b;
}
std::string I32s(const std::vector<int32_t>& w) {
  std::string b(w.size() * 4, '\0');
  std::memcpy(b.data(), w.data(), b.size());
  return b;
}
std::string F16s(const std::vector<float>& v) {
  std::string b;
  for (float x : v) {
    const uint16_t h = FloatToF16(x);
    b.append(reinterpret_cast<const char*>(&h), 2);
  }
  return b;
}
std::string Bf16s(const std::vector<float>& v) {
  std::string b;
  for (float x : v) {
    const uint16_t h = FloatToBf16(x);
    b.append(reinterpret_cast<const char*>(&h), 2);
  }
  return b;
}

using Tensors = std::map<std::string, TensorToWrite>;

// AutoAWQ's packing: field i of word c holds column 8c + kOrder[i].
Tensors PackAwq(const IntLinear& l) {
  constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  auto pack = [&](int64_t rows, auto value) {
    std::vector<uint32_t> out;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < l.n / 8; ++c) {
        uint32_t w = 0;
        for (int i = 0; i < 8; ++i) w |= value(r, 8 * c + kOrder[i]) << (4 * i);
        out.push_back(w);
      }
    return out;
  };
  Tensors t;
  t["qweight"] = {kModule + ".qweight",
                  DType::kI32,
                  {l.k, l.n / 8},
                  Words(pack(l.k, [&](int64_t r, int64_t c) { return l.q[c * l.k + r]; }))};
  t["qzeros"] = {kModule + ".qzeros",
                 DType::kI32,
                 {l.groups(), l.n / 8},
                 Words(pack(l.groups(), [&](int64_t r, int64_t c) { return l.z[r * l.n + c]; }))};
  t["scales"] = {kModule + ".scales", DType::kF16, {l.groups(), l.n}, F16s(l.s)};
  return t;
}

// GPTQ: inputs packed along qweight's rows, zeros along qzeros' columns, v1 stores zero - 1.
Tensors PackGptq(const IntLinear& l, bool v2) {
  const int64_t pf = 32 / l.bits;
  std::vector<uint32_t> qw, qz;
  for (int64_t r = 0; r < l.k / pf; ++r)
    for (int64_t c = 0; c < l.n; ++c) {
      uint32_t w = 0;
      for (int64_t i = 0; i < pf; ++i) w |= l.q[c * l.k + r * pf + i] << (l.bits * i);
      qw.push_back(w);
    }
  for (int64_t g = 0; g < l.groups(); ++g)
    for (int64_t c = 0; c < l.n / pf; ++c) {
      uint32_t w = 0;
      for (int64_t i = 0; i < pf; ++i) {
        const uint32_t zero = l.z[g * l.n + c * pf + i] - (v2 ? 0 : 1);
        w |= (zero & ((1u << l.bits) - 1)) << (l.bits * i);
      }
      qz.push_back(w);
    }
  Tensors t;
  t["qweight"] = {kModule + ".qweight", DType::kI32, {l.k / pf, l.n}, Words(qw)};
  t["qzeros"] = {kModule + ".qzeros", DType::kI32, {l.groups(), l.n / pf}, Words(qz)};
  t["scales"] = {kModule + ".scales", DType::kF16, {l.groups(), l.n}, F16s(l.s)};
  t["g_idx"] = {kModule + ".g_idx", DType::kI32, {l.k}, I32s(l.g_idx)};
  return t;
}

// compressed-tensors pack-quantized: weights along the input, zero points along the output.
Tensors PackCt(const IntLinear& l, bool symmetric, bool act_order) {
  const int64_t pf = 32 / l.bits;
  std::vector<uint32_t> qw, qz;
  for (int64_t r = 0; r < l.n; ++r)
    for (int64_t c = 0; c < l.k / pf; ++c) {
      uint32_t w = 0;
      for (int64_t i = 0; i < pf; ++i) w |= l.q[r * l.k + c * pf + i] << (l.bits * i);
      qw.push_back(w);
    }
  std::vector<float> scale_ng;  // [n, groups]
  for (int64_t r = 0; r < l.n; ++r)
    for (int64_t g = 0; g < l.groups(); ++g) scale_ng.push_back(l.s[g * l.n + r]);
  Tensors t;
  t["weight_packed"] = {kModule + ".weight_packed", DType::kI32, {l.n, l.k / pf}, Words(qw)};
  t["weight_scale"] = {kModule + ".weight_scale", DType::kBF16, {l.n, l.groups()}, Bf16s(scale_ng)};
  const int64_t shape[2] = {l.n, l.k};
  t["weight_shape"] = {kModule + ".weight_shape",
                       DType::kI64,
                       {2},
                       std::string(reinterpret_cast<const char*>(shape), 16)};
  if (!symmetric) {
    for (int64_t r = 0; r < l.n / pf; ++r)
      for (int64_t g = 0; g < l.groups(); ++g) {
        uint32_t w = 0;
        for (int64_t i = 0; i < pf; ++i) w |= l.z[g * l.n + r * pf + i] << (l.bits * i);
        qz.push_back(w);
      }
    t["weight_zero_point"] = {
        kModule + ".weight_zero_point", DType::kI32, {l.n / pf, l.groups()}, Words(qz)};
  }
  if (act_order) {
    t["weight_g_idx"] = {kModule + ".weight_g_idx", DType::kI32, {l.k}, I32s(l.g_idx)};
  }
  return t;
}

class SyntheticTest : public ::testing::Test {
 protected:
  // Writes `tensors` as DIR/model.safetensors and loads kModule with `config_json`.
  absl::StatusOr<QuantizedLinear> Load(const Tensors& tensors, const std::string& config_json,
                                       int64_t n, int64_t k) {
    const std::string dir =
        testing::TestDir("quant", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::vector<TensorToWrite> list;
    for (const auto& [key, t] : tensors) list.push_back(t);
    if (absl::Status s = WriteSafetensors(dir + "/model.safetensors", list); !s.ok()) return s;
    absl::StatusOr<std::unique_ptr<Checkpoint>> ckpt = Checkpoint::Open(dir);
    if (!ckpt.ok()) return ckpt.status();
    absl::StatusOr<QuantConfig> config = ParseQuantizationConfig(config_json, "config.json");
    if (!config.ok()) return config.status();
    const QuantScheme* scheme = config->SchemeFor(kModule);
    if (scheme == nullptr) return absl::InternalError("module not quantized");
    absl::StatusOr<QuantizedLinear> q =
        LoadQuantizedLinear(**ckpt, *config, *scheme, kModule, n, k);
    if (!q.ok()) return q.status();
    if (absl::Status s = q->Validate(); !s.ok()) return s;
    return q;
  }

  void ExpectEqualsReference(const Tensors& t, const std::string& config, const IntLinear& l) {
    absl::StatusOr<QuantizedLinear> q = Load(t, config, l.n, l.k);
    ASSERT_TRUE(q.ok()) << q.status();
    absl::StatusOr<std::vector<float>> w = q->Dequantize();
    ASSERT_TRUE(w.ok()) << w.status();
    for (int64_t r = 0; r < l.n; ++r)
      for (int64_t c = 0; c < l.k; ++c)
        ASSERT_EQ((*w)[r * l.k + c], l.W(r, c)) << r << ", " << c;  // exact in fp32
  }

  std::string Error(const Tensors& t, const std::string& config, int64_t n, int64_t k) {
    absl::StatusOr<QuantizedLinear> q = Load(t, config, n, k);
    EXPECT_FALSE(q.ok());
    return q.ok() ? "" : std::string(q.status().message());
  }
};

const char kAwqConfig[] = R"({"quant_method": "awq", "bits": 4, "group_size": 32,
  "zero_point": true, "version": "gemm"})";
std::string GptqConfig(int bits, int64_t group, bool desc_act, bool v2) {
  return std::string(R"({"quant_method": "gptq", "sym": true, "bits": )") + std::to_string(bits) +
         R"(, "group_size": )" + std::to_string(group) + R"(, "desc_act": )" +
         (desc_act ? "true" : "false") + R"(, "checkpoint_format": )" +
         (v2 ? "\"gptq_v2\"" : "\"gptq\"") + "}";
}
std::string CtConfig(int bits, const std::string& strategy, int64_t group, bool symmetric,
                     bool act_order) {
  return std::string(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
    "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": null, "weights":
    {"type": "int", "num_bits": )") +
         std::to_string(bits) + R"(, "strategy": ")" + strategy + R"(", "group_size": )" +
         (group > 0 ? std::to_string(group) : "null") + R"(, "symmetric": )" +
         (symmetric ? "true" : "false") + R"(, "actorder": )" + (act_order ? "\"group\"" : "null") +
         "}}}}";
}

TEST_F(SyntheticTest, AwqRoundTrip) {
  const IntLinear l = RandomInt(16, 64, 32, 4, false, 1);
  ExpectEqualsReference(PackAwq(l), kAwqConfig, l);
}

TEST_F(SyntheticTest, GptqRoundTrips) {
  for (bool v2 : {false, true}) {
    for (int bits : {4, 8}) {
      IntLinear l = RandomInt(16, 64, 32, bits, false, 2);
      if (!v2)
        for (uint32_t& z : l.z) z = std::max(z, 1u);  // v1 cannot store zero 0
      SCOPED_TRACE(::testing::Message() << "v2 " << v2 << " bits " << bits);
      ExpectEqualsReference(PackGptq(l, v2), GptqConfig(bits, 32, false, v2), l);
    }
  }
}

TEST_F(SyntheticTest, GptqDescActIndexesThroughGIdx) {
  IntLinear l = RandomInt(8, 64, 16, 4, /*shuffle_groups=*/true, 3);
  for (uint32_t& z : l.z) z = std::max(z, 1u);
  ExpectEqualsReference(PackGptq(l, false), GptqConfig(4, 16, true, false), l);
}

TEST_F(SyntheticTest, GptqPerChannel) {
  IntLinear l = RandomInt(8, 64, 64, 4, false, 4);
  for (uint32_t& z : l.z) z = std::max(z, 1u);
  ExpectEqualsReference(PackGptq(l, false), GptqConfig(4, -1, false, false), l);
}

TEST_F(SyntheticTest, CompressedTensorsRoundTrips) {
  {  // int4 group, asymmetric
    const IntLinear l = RandomInt(16, 64, 32, 4, false, 5);
    ExpectEqualsReference(PackCt(l, false, false), CtConfig(4, "group", 32, false, false), l);
  }
  {  // int8 channel, symmetric: the zero is the 2^(b-1) offset
    IntLinear l = RandomInt(8, 64, 64, 8, false, 6);
    for (uint32_t& z : l.z) z = 128;
    ExpectEqualsReference(PackCt(l, true, false), CtConfig(8, "channel", 0, true, false), l);
  }
  {  // int4 group with actorder "group"
    IntLinear l = RandomInt(8, 64, 16, 4, true, 7);
    for (uint32_t& z : l.z) z = 8;
    ExpectEqualsReference(PackCt(l, true, true), CtConfig(4, "group", 16, true, true), l);
  }
}

TEST_F(SyntheticTest, Fp8TensorScale) {
  Tensors t;
  std::string bytes;
  for (int i = 0; i < 8 * 16; ++i) bytes.push_back(static_cast<char>(i % 0x7e));
  t["w"] = {kModule + ".weight", DType::kF8E4M3, {8, 16}, bytes};
  t["s"] = {kModule + ".weight_scale", DType::kF32, {1}, std::string("\0\0\0\x40", 4)};  // 2.0
  const std::string config = R"({"quant_method": "compressed-tensors", "format":
    "float-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8,
    "type": "float", "strategy": "tensor", "symmetric": true}}}})";
  absl::StatusOr<QuantizedLinear> q = Load(t, config, 8, 16);
  ASSERT_TRUE(q.ok()) << q.status();
  absl::StatusOr<std::vector<float>> w = q->Dequantize();
  ASSERT_TRUE(w.ok()) << w.status();
  for (int i = 0; i < 8 * 16; ++i) {
    ASSERT_EQ((*w)[i], 2.0f * Fp8E4M3ToFloat(static_cast<uint8_t>(i % 0x7e))) << i;
  }
  // An FP8 NaN in the weights is refused, naming the tensor.
  t["w"].bytes[5] = '\x7f';
  EXPECT_THAT(Error(t, config, 8, 16), HasSubstr(kModule + ".weight\" holds an FP8 NaN"));
}

// --- Hostile checkpoints: clear errors naming the tensor, never a crash --------------------------

TEST_F(SyntheticTest, WrongPackedShape) {
  const IntLinear l = RandomInt(16, 64, 32, 4, false, 8);
  Tensors t = PackAwq(l);
  t["qweight"].shape = {l.k / 2, l.n / 4};  // same bytes, wrong shape
  EXPECT_THAT(Error(t, kAwqConfig, l.n, l.k),
              HasSubstr(kModule + ".qweight\" (AWQ weights) has shape [32, 4], expected [64, 2]"));
}

TEST_F(SyntheticTest, BadScales) {
  const IntLinear l = RandomInt(16, 64, 32, 4, false, 9);
  for (float bad : {0.0f, std::nanf(""), INFINITY}) {
    IntLinear m = l;
    m.s[5] = bad;
    for (uint32_t& z : m.z) z = std::max(z, 1u);
    EXPECT_THAT(Error(PackGptq(m, false), GptqConfig(4, 32, false, false), l.n, l.k),
                HasSubstr(kModule + ".scales\" has scale"))
        << bad;
  }
}

TEST_F(SyntheticTest, GIdxOutOfRangeOrUnbalanced) {
  IntLinear l = RandomInt(8, 64, 16, 4, true, 10);
  for (uint32_t& z : l.z) z = std::max(z, 1u);
  IntLinear out = l;
  out.g_idx[3] = 4;  // 4 groups: 0..3
  EXPECT_THAT(Error(PackGptq(out, false), GptqConfig(4, 16, true, false), l.n, l.k),
              HasSubstr(kModule + ".g_idx\" gives input 3 group 4, outside [0, 4)"));
  IntLinear neg = l;
  neg.g_idx[0] = -1;
  EXPECT_THAT(Error(PackGptq(neg, false), GptqConfig(4, 16, true, false), l.n, l.k),
              HasSubstr("group -1"));
  IntLinear unbalanced = l;
  unbalanced.g_idx[0] = unbalanced.g_idx[0] == 0 ? 1 : 0;
  EXPECT_THAT(Error(PackGptq(unbalanced, false), GptqConfig(4, 16, true, false), l.n, l.k),
              HasSubstr("every group needs exactly 16"));
  Tensors missing = PackGptq(l, false);
  missing.erase("g_idx");
  EXPECT_THAT(Error(missing, GptqConfig(4, 16, true, false), l.n, l.k),
              HasSubstr(kModule + ".g_idx\" (GPTQ g_idx) is missing"));
}

TEST_F(SyntheticTest, GroupSizeNotDividingInput) {
  const IntLinear l = RandomInt(16, 64, 32, 4, false, 11);
  EXPECT_THAT(Error(PackAwq(l), kAwqConfig, l.n, 48),
              HasSubstr("group size 32 does not divide the input size 48"));
}

TEST_F(SyntheticTest, MissingZerosOrScales) {
  const IntLinear l = RandomInt(16, 64, 32, 4, false, 12);
  for (const char* key : {"qzeros", "scales"}) {
    Tensors t = PackAwq(l);
    t.erase(key);
    EXPECT_THAT(Error(t, kAwqConfig, l.n, l.k), HasSubstr(kModule + "." + key + "\" ("));
  }
  Tensors ct = PackCt(l, false, false);
  ct.erase("weight_zero_point");
  EXPECT_THAT(Error(ct, CtConfig(4, "group", 32, false, false), l.n, l.k),
              HasSubstr(kModule + ".weight_zero_point\" (int zero points) is missing"));
}

TEST_F(SyntheticTest, ConfigAndTensorsDisagree) {
  const IntLinear l = RandomInt(16, 64, 32, 4, false, 13);
  // An 8-bit config over 4-bit words: the packed shape gives it away.
  EXPECT_THAT(Error(PackCt(l, true, false), CtConfig(8, "group", 32, true, false), l.n, l.k),
              HasSubstr(kModule + ".weight_packed\" (packed int weights) has shape"));
  // weight_shape that disagrees with the model.
  Tensors t = PackCt(l, true, false);
  const int64_t shape[2] = {l.n, l.k + 8};
  t["weight_shape"].bytes = std::string(reinterpret_cast<const char*>(shape), 16);
  EXPECT_THAT(Error(t, CtConfig(4, "group", 32, true, false), l.n, l.k),
              HasSubstr(kModule + ".weight_shape\" says [16, 72]"));
  // Packed words in a float dtype.
  Tensors f = PackAwq(l);
  f["qweight"].dtype = DType::kF32;
  EXPECT_THAT(Error(f, kAwqConfig, l.n, l.k), HasSubstr("has dtype F32, expected I32"));
  // A plain float checkpoint under a quantization_config.
  Tensors plain;
  plain["w"] = {kModule + ".weight", DType::kF32, {l.n, l.k}, std::string(l.n * l.k * 4, '\0')};
  EXPECT_THAT(Error(plain, kAwqConfig, l.n, l.k), HasSubstr(".qweight\" (AWQ weights) is missing"));
}

TEST(QuantizedLinearTest, ValidateRefusesInconsistentSizes) {
  QuantizedLinear q;
  q.values_tensor = "v";
  q.scales_tensor = "s";
  q.zeros_tensor = "z";
  q.out_features = 2;
  q.in_features = 4;
  q.group_size = 4;
  q.bits = 4;
  q.values.assign(8, 1);
  q.scales.assign(2, 1.0f);
  q.zeros.assign(1, 0.0f);
  EXPECT_THAT(q.Validate().message(), HasSubstr("tensor \"z\" holds 1 zero points, expected 2"));
  q.zeros.assign(2, 0.0f);
  EXPECT_TRUE(q.Validate().ok());
  q.bits = 3;
  EXPECT_THAT(q.Validate().message(), HasSubstr("3 bits"));
}

}  // namespace
}  // namespace tessera
