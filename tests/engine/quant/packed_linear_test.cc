// The load-time repack for the CUDA kernels: the packed layout dequantized on the host equals the
// CPU reference's dequantized weights bit for bit, for every Linear of the quantized fixtures,
// the on-load quantizers, and random odd shapes with group sizes 32/64/128/per channel and
// act-order; the nibble order and the parameter types are pinned by hand-computed values.
#include "engine/quant/packed_linear.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/dtype.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "engine/quant/on_load_quantizer.h"
#include "engine/quant/random_packed_linear.h"
#include "tests/engine/quant/random_quantized_linear.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::tessera::testing::RandomCase;
using ::tessera::testing::RandomLinear;
using ::testing::HasSubstr;

// Bit-exact comparison (0 and -0 differ; the kernels must reproduce the sign too).
void ExpectSameBits(const std::vector<float>& got, const std::vector<float>& want,
                    const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0 && ++mismatches <= 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", reference " << want[i];
    }
  }
  EXPECT_EQ(mismatches, 0u) << what;
}

void ExpectPackedEqualsReference(const QuantizedLinear& q) {
  absl::StatusOr<std::vector<float>> want = q.Dequantize();
  ASSERT_TRUE(want.ok()) << want.status();
  absl::StatusOr<PackedLinear> p = PackLinear(q);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectSameBits(DequantizePacked(*p), *want, q.module + " " + q.Label());
  EXPECT_EQ(p->bytes(),
            PackedLinearBytes(p->kind, q.out_features, q.in_features,
                              p->kind == PackedKind::kNf4 ? p->block_size : p->group_size,
                              p->scale_type, p->zero_type, !p->perm.empty()))
      << q.Label();
  EXPECT_EQ(p->row_bytes() % kPackedRowAlignBytes, 0);
  EXPECT_EQ(static_cast<int64_t>(p->codes.size()), p->out_features * p->row_bytes());
}

// --- Random odd shapes ---------------------------------------------------------------------------

class PackedRandomTest : public ::testing::TestWithParam<RandomCase> {};

TEST_P(PackedRandomTest, HostDequantizeEqualsReference) {
  const RandomCase& c = GetParam();
  const QuantizedLinear q = RandomLinear(c, 7 + static_cast<uint32_t>(c.n * c.k));
  ExpectPackedEqualsReference(q);
  absl::StatusOr<PackedLinear> p = PackLinear(q);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->scale_type, c.f32_scales ? PackedParamType::kF32 : PackedParamType::kF16);
  if (!c.fp8) {
    EXPECT_EQ(p->zero_type, PackedParamType::kF16);  // small integers
  }
  EXPECT_EQ(p->perm.empty(), !c.act_order);
  if (c.act_order) {
    // Packed column j belongs to group j / group_size: scales are read in order.
    for (int64_t j = 0; j < c.k; ++j) {
      ASSERT_EQ(q.g_idx[p->perm[j]], j / q.group_size) << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PackedRandomTest,
    ::testing::Values(RandomCase{4, false, 37, 96, 32, false, false},
                      RandomCase{4, false, 37, 192, 64, true, false},
                      RandomCase{4, false, 5, 384, 128, true, true},
                      RandomCase{4, false, 11, 256, 128, false, false},
                      RandomCase{4, false, 13, 45, -1, false, true},  // odd K: padded row
                      RandomCase{8, false, 9, 96, 32, true, false},
                      RandomCase{8, false, 31, 77, -1, false, true},
                      RandomCase{8, false, 3, 256, 128, false, false},
                      RandomCase{8, true, 17, 53, -1, false, true},  // FP8 per channel
                      RandomCase{8, true, 6, 256, 64, false, false}));

// --- On-load quantizers --------------------------------------------------------------------------

std::vector<float> NormalWeights(int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(n * k));
  for (float& x : w) x = normal(rng);
  return w;
}

TEST(PackedOnLoadTest, EveryOnLoadMethodRoundTrips) {
  const int64_t n = 19, k = 256;
  const std::vector<float> w = NormalWeights(n, k, 3);
  std::vector<absl::StatusOr<QuantizedLinear>> qs;
  qs.push_back(QuantizeInt8PerChannel("m", w, n, k));
  qs.push_back(QuantizeInt4Grouped("m", w, n, k));
  qs.push_back(QuantizeInt4Grouped("m", w, n, k, 32));
  qs.push_back(QuantizeFp8PerChannel("m", w, n, k));
  qs.push_back(QuantizeNf4("m", w, n, k, /*double_quant=*/false));
  qs.push_back(QuantizeNf4("m", w, n, k, /*double_quant=*/true));
  // NF4 blocks spanning rows and a short last block: 7 x 45 = 315 = 4 x 64 + 59.
  qs.push_back(QuantizeNf4("m", NormalWeights(7, 45, 4), 7, 45, false));
  for (const absl::StatusOr<QuantizedLinear>& q : qs) {
    ASSERT_TRUE(q.ok()) << q.status();
    ExpectPackedEqualsReference(*q);
  }
  absl::StatusOr<PackedLinear> int8 = PackLinear(*qs[0]);
  ASSERT_TRUE(int8.ok());
  // absmax / 127 needs all fp32 bits; the zero point 128 fits f16.
  EXPECT_EQ(int8->kind, PackedKind::kInt8);
  EXPECT_EQ(int8->scale_type, PackedParamType::kF32);
  EXPECT_EQ(int8->zero_type, PackedParamType::kF16);
  absl::StatusOr<PackedLinear> int4 = PackLinear(*qs[1]);
  ASSERT_TRUE(int4.ok());
  EXPECT_EQ(int4->scale_type, PackedParamType::kF16);  // rounded up to f16 values on purpose
  EXPECT_EQ(int4->bytes(), n * k / 2 + n * (k / 128) * 4);
  absl::StatusOr<PackedLinear> nf4 = PackLinear(*qs[4]);
  ASSERT_TRUE(nf4.ok());
  EXPECT_EQ(nf4->kind, PackedKind::kNf4);
  EXPECT_EQ(nf4->codebook[7], 0.0f);
}

// --- The quantized fixtures: every Linear of every layer -----------------------------------------

bool IsLinear(WeightKind kind) {
  switch (kind) {
    case WeightKind::kQ:
    case WeightKind::kK:
    case WeightKind::kV:
    case WeightKind::kO:
    case WeightKind::kGate:
    case WeightKind::kUp:
    case WeightKind::kDown:
      return true;
    default:
      return false;
  }
}

class PackedFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PackedFixtureTest, EveryLinearEqualsReference) {
  std::string dir = std::string(TESSERA_FIXTURES_DIR) + "/models/" + GetParam();
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << dir << " not found";
  dir = testing::FixtureModelDir(dir);  // a copy of the fixtures may have lost its links
  absl::StatusOr<ModelConfig> config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<Checkpoint>> ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  int packed = 0;
  for (const WeightSpec& spec : ExpectedWeights(*config)) {
    if (!IsLinear(spec.kind)) continue;
    const std::string module =
        spec.name.substr(0, spec.name.size() - std::string(".weight").size());
    const QuantScheme* scheme = config->quantization.SchemeFor(module);
    if (scheme == nullptr) continue;
    absl::StatusOr<QuantizedLinear> q = LoadQuantizedLinear(**ckpt, config->quantization, *scheme,
                                                            module, spec.shape[0], spec.shape[1]);
    ASSERT_TRUE(q.ok()) << q.status();
    ExpectPackedEqualsReference(*q);
    ++packed;
  }
  EXPECT_EQ(packed, 7 * config->num_hidden_layers) << "every decoder Linear is quantized";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PackedFixtureTest,
                         ::testing::Values("quant-llama-awq", "quant-llama-gptq",
                                           "quant-llama-fp8"));

// --- Fused projections -----------------------------------------------------------------------

TEST(PackedConcatTest, StackedRowsDequantizeToTheStackedReference) {
  // q, k, v of one layer: equal inputs, different outputs, one act-order g_idx; k's scales need
  // fp32, so the fused weight widens every part's scales (exactly).
  QuantizedLinear q = RandomLinear({4, false, 48, 256, 64, true, false}, 1);
  QuantizedLinear k = RandomLinear({4, false, 16, 256, 64, true, true}, 2);
  QuantizedLinear v = RandomLinear({4, false, 16, 256, 64, true, false}, 3);
  k.g_idx = v.g_idx = q.g_idx;
  std::vector<float> want;
  std::vector<PackedLinear> packed;
  for (const QuantizedLinear* m : {&q, &k, &v}) {
    absl::StatusOr<std::vector<float>> w = m->Dequantize();
    ASSERT_TRUE(w.ok()) << w.status();
    want.insert(want.end(), w->begin(), w->end());
    absl::StatusOr<PackedLinear> p = PackLinear(*m);
    ASSERT_TRUE(p.ok()) << p.status();
    packed.push_back(*std::move(p));
  }
  absl::StatusOr<PackedLinear> fused = ConcatRows({&packed[0], &packed[1], &packed[2]});
  ASSERT_TRUE(fused.ok()) << fused.status();
  EXPECT_EQ(fused->out_features, 80);
  EXPECT_EQ(fused->scale_type, PackedParamType::kF32);
  ExpectSameBits(DequantizePacked(*fused), want, "q|k|v");

  // NF4 gate|up: blocks of 64 line up when each part ends on a block boundary.
  const std::vector<float> wg = NormalWeights(6, 64, 5), wu = NormalWeights(3, 64, 6);
  absl::StatusOr<QuantizedLinear> gate = QuantizeNf4("gate", wg, 6, 64, false);
  absl::StatusOr<QuantizedLinear> up = QuantizeNf4("up", wu, 3, 64, false);
  ASSERT_TRUE(gate.ok() && up.ok());
  absl::StatusOr<PackedLinear> pg = PackLinear(*gate), pu = PackLinear(*up);
  ASSERT_TRUE(pg.ok() && pu.ok());
  absl::StatusOr<PackedLinear> gate_up = ConcatRows({&*pg, &*pu});
  ASSERT_TRUE(gate_up.ok()) << gate_up.status();
  std::vector<float> want_gu = *gate->Dequantize();
  const std::vector<float> u = *up->Dequantize();
  want_gu.insert(want_gu.end(), u.begin(), u.end());
  ExpectSameBits(DequantizePacked(*gate_up), want_gu, "gate|up nf4");
}

TEST(PackedConcatTest, RefusesPartsThatCannotShareOneGemm) {
  QuantizedLinear a = RandomLinear({4, false, 8, 256, 64, true, false}, 1);
  QuantizedLinear b = RandomLinear({4, false, 8, 256, 64, true, false}, 2);  // another g_idx
  a.module = "model.layers.0.self_attn.q_proj";
  b.module = "model.layers.0.self_attn.k_proj";
  absl::StatusOr<PackedLinear> pa = PackLinear(a), pb = PackLinear(b);
  ASSERT_TRUE(pa.ok() && pb.ok());
  absl::StatusOr<PackedLinear> c = ConcatRows({&*pa, &*pb});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("different act-order g_idx"));
  EXPECT_THAT(c.status().message(), HasSubstr("k_proj"));
  QuantizedLinear g32 = RandomLinear({4, false, 8, 256, 32, false, false}, 3);
  absl::StatusOr<PackedLinear> p32 = PackLinear(g32);
  ASSERT_TRUE(p32.ok());
  c = ConcatRows({&*pa, &*p32});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("group size"));
  // NF4: 7 x 45 values end inside a 64-value block.
  absl::StatusOr<QuantizedLinear> n1 = QuantizeNf4("gate", NormalWeights(7, 45, 1), 7, 45, false);
  absl::StatusOr<QuantizedLinear> n2 = QuantizeNf4("up", NormalWeights(7, 45, 2), 7, 45, false);
  absl::StatusOr<PackedLinear> q1 = PackLinear(*n1), q2 = PackLinear(*n2);
  ASSERT_TRUE(q1.ok() && q2.ok());
  c = ConcatRows({&*q1, &*q2});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("inside a block"));
}

// --- Random benchmark weights --------------------------------------------------------------------

TEST(RandomPackedLinearTest, EveryKindIsWellFormedFiniteAndSmall) {
  for (PackedKind kind :
       {PackedKind::kInt4, PackedKind::kInt8, PackedKind::kFp8, PackedKind::kNf4}) {
    SCOPED_TRACE(PackedKindName(kind));
    const PackedLinear p = RandomPackedLinear(kind, 24, 256, 0.05f, 9);
    EXPECT_EQ(p.bytes(), PackedLinearBytes(kind, 24, 256,
                                           kind == PackedKind::kNf4 ? p.block_size : p.group_size,
                                           p.scale_type, p.zero_type, false));
    const std::vector<float> w = DequantizePacked(p);
    float largest = 0;
    int nonzero = 0;
    for (float v : w) {
      ASSERT_TRUE(std::isfinite(v));
      largest = std::max(largest, std::fabs(v));
      nonzero += v != 0.0f;
    }
    EXPECT_LE(largest, 0.05f * 1.01f);
    EXPECT_GT(largest, 0.01f);
    EXPECT_GT(nonzero, 24 * 256 * 3 / 4);
    // Deterministic in the seed.
    EXPECT_EQ(RandomPackedLinear(kind, 24, 256, 0.05f, 9).codes, p.codes);
    EXPECT_NE(RandomPackedLinear(kind, 24, 256, 0.05f, 10).codes, p.codes);
  }
}

// --- The layout itself, by hand ------------------------------------------------------------------

QuantizedLinear CountingInt4(int64_t n, int64_t k) {
  QuantizedLinear q;
  q.module = "m";
  q.format = "test";
  q.out_features = n;
  q.in_features = k;
  q.bits = 4;
  q.group_size = k;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) q.values.push_back(static_cast<uint8_t>(c % 16));
    q.scales.push_back(1.0f);
    q.zeros.push_back(8.0f);
  }
  return q;
}

TEST(PackedLayoutTest, Int4NibblesInterleaveColumnPairs) {
  absl::StatusOr<PackedLinear> p = PackLinear(CountingInt4(2, 40));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->padded_in, 64);  // 40 columns -> two 16-byte vectors of 32
  EXPECT_EQ(p->row_bytes(), 32);
  uint32_t w0, w1;
  std::memcpy(&w0, p->codes.data(), 4);
  std::memcpy(&w1, p->codes.data() + 4, 4);
  // Columns 0..7 hold 0..7: nibbles 0..3 = columns 0,2,4,6 and nibbles 4..7 = columns 1,3,5,7.
  EXPECT_EQ(w0, 0x75316420u);
  EXPECT_EQ(w1, 0xfdb9eca8u);  // columns 8..15
  // (w >> 4i) & 0x000f000f: columns 2i (low half) and 2i + 1 (high half).
  EXPECT_EQ((w0 >> 4) & 0x000f000fu, 0x00030002u);
  // Columns 40..63 of each row are padding (code 0); row 1 starts at byte 32.
  for (int b = 20; b < 32; ++b) EXPECT_EQ(p->codes[b], 0) << b;
  std::memcpy(&w0, p->codes.data() + 32, 4);
  EXPECT_EQ(w0, 0x75316420u);
}

TEST(PackedLayoutTest, ActOrderSortsInputsByGroupAndKeepsOrderWithin) {
  QuantizedLinear q = CountingInt4(1, 64);
  q.group_size = 32;
  q.scales = {1.0f, 2.0f};
  q.zeros = {8.0f, 8.0f};
  for (int i = 0; i < 64; ++i) q.g_idx.push_back(i % 2);  // even inputs group 0, odd group 1
  absl::StatusOr<PackedLinear> p = PackLinear(q);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->perm.size(), 64u);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(p->perm[j], 2 * j);
    EXPECT_EQ(p->perm[32 + j], 2 * j + 1);
  }
  EXPECT_EQ(p->Code(0, 1), 2u);   // input 2 (value 2)
  EXPECT_EQ(p->Code(0, 32), 1u);  // input 1
  EXPECT_EQ(p->Scale(0, 1), 2.0f);
  // A g_idx that is just k / group_size needs no perm.
  for (int i = 0; i < 64; ++i) q.g_idx[i] = i / 32;
  p = PackLinear(q);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->perm.empty());
}

TEST(PackedLayoutTest, ScaleTypeIsTheNarrowestExact) {
  QuantizedLinear q = CountingInt4(2, 32);
  q.scales = {0.5f, 1.0f / 3.0f};  // 1/3 is exact in neither f16 nor bf16
  absl::StatusOr<PackedLinear> p = PackLinear(q);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->scale_type, PackedParamType::kF32);
  // Below f16's smallest subnormal (2^-24), a bf16 value.
  q.scales = {0.5f, Bf16ToFloat(FloatToBf16(3.0e-8f))};
  p = PackLinear(q);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->scale_type, PackedParamType::kBf16);
  EXPECT_EQ(p->Scale(1, 0), q.scales[1]);
  EXPECT_EQ(p->scales.size(), 4u);
}

TEST(PackedLayoutTest, BadInputIsAnErrorNamingTheModule) {
  QuantizedLinear q = CountingInt4(2, 32);
  q.module = "model.layers.3.mlp.up_proj";
  q.values_tensor = q.module + ".qweight";
  q.scales_tensor = q.module + ".scales";
  q.scales.pop_back();
  absl::StatusOr<PackedLinear> p = PackLinear(q);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("model.layers.3.mlp.up_proj"));
  EXPECT_THAT(p.status().message(), HasSubstr("scales"));
}

TEST(PackedLayoutTest, PlannedBytesOfFullSizeShapes) {
  // Llama-3-8B down_proj [4096, 14336] int4 g128 with f16 scales and zeros: 4.25 bits per weight.
  EXPECT_EQ(PackedLinearBytes(PackedKind::kInt4, 4096, 14336, 128, PackedParamType::kF16,
                              PackedParamType::kF16, false),
            4096 * 14336 / 2 + 4096 * 112 * 4);
  // With act-order the perm adds 4 bytes per input.
  EXPECT_EQ(PackedLinearBytes(PackedKind::kInt4, 4096, 14336, 128, PackedParamType::kF16,
                              PackedParamType::kF16, true),
            4096 * 14336 / 2 + 4096 * 112 * 4 + 14336 * 4);
  // FP8 per channel: no zeros.
  EXPECT_EQ(PackedLinearBytes(PackedKind::kFp8, 4096, 4096, 4096, PackedParamType::kF32,
                              PackedParamType::kF32, false),
            4096 * 4096 + 4096 * 4);
  // NF4: flat blocks of 64 with an fp32 absmax, plus the 16-entry code book.
  EXPECT_EQ(PackedLinearBytes(PackedKind::kNf4, 7, 45, 64, PackedParamType::kF32,
                              PackedParamType::kF32, false),
            7 * 32 + 5 * 4 + 64);
}

}  // namespace
}  // namespace tessera
