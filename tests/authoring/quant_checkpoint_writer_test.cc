// The quantized-checkpoint writer against the README's layouts (words it must produce) and
// against the real format readers of engine/quant/ (what they read back must be exactly the W the
// writer says it encoded), per format and scheme, then a whole model folder.
#include "authoring/quant_checkpoint_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "authoring/checkpoint_writer.h"
#include "authoring/safetensors_writer.h"
#include "engine/checkpoint.h"
#include "engine/engine_loader.h"
#include "engine/model_config.h"
#include "engine/quant/quant_config.h"
#include "engine/quant/quantized_linear.h"
#include "engine/safetensors.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

const std::string kModule = "model.layers.0.self_attn.q_proj";

std::vector<float> RandomW(int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  std::vector<float> w(n * k);
  for (float& x : w) x = u(rng);
  w[3] = 0.9f;  // an outlier: its group's scale differs from the others'
  return w;
}

const TensorToWrite& Find(const QuantizedLinearTensors& q, const std::string& suffix) {
  for (const TensorToWrite& t : q.tensors)
    if (t.name == kModule + suffix) return t;
  ADD_FAILURE() << "no tensor " << suffix;
  static const TensorToWrite none;
  return none;
}

std::vector<uint32_t> Words(const TensorToWrite& t) {
  std::vector<uint32_t> w(t.bytes.size() / 4);
  std::memcpy(w.data(), t.bytes.data(), w.size() * 4);
  return w;
}

QuantizedLinearTensors Quantize(const QuantWriteScheme& s, const std::vector<float>& w, int64_t n,
                                int64_t k) {
  absl::StatusOr<QuantizedLinearTensors> q = QuantizeLinearTensors(s, kModule, w, n, k);
  EXPECT_TRUE(q.ok()) << q.status();
  return q.ok() ? *std::move(q) : QuantizedLinearTensors{};
}

// --- The words the README's layouts prescribe ---------------------------------------------------

TEST(QuantWriterLayoutTest, AwqInterleavesColumns) {
  // Row n is [0, 15, n]: min 0, max 15, so scale 1 and zero 0, and input 2 of column n has code n.
  const int64_t n = 8, k = 3;
  std::vector<float> w;
  for (int64_t r = 0; r < n; ++r) w.insert(w.end(), {0.0f, 15.0f, static_cast<float>(r)});
  QuantWriteScheme s{.format = QuantFormat::kAwq, .bits = 4, .group_size = -1};
  const QuantizedLinearTensors q = Quantize(s, w, n, k);
  EXPECT_EQ(Find(q, ".qweight").shape, (std::vector<int64_t>{3, 1}));
  // "columns 0..7 holding 0..7 give 0x75316420"
  EXPECT_EQ(Words(Find(q, ".qweight")), (std::vector<uint32_t>{0, 0xffffffffu, 0x75316420u}));
  EXPECT_EQ(Words(Find(q, ".qzeros")), (std::vector<uint32_t>{0}));
  EXPECT_EQ(Find(q, ".scales").dtype, DType::kF16);
  EXPECT_EQ(q.dequantized, w);
}

TEST(QuantWriterLayoutTest, GptqPacksInputsAlongRowsAndStoresZeroMinusOne) {
  // W[n][k] = k - 7: absmax 7, scale 1, code k - 7 + 8 = k + 1 in field k of the column's word.
  const int64_t n = 8, k = 8;
  std::vector<float> w;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) w.push_back(static_cast<float>(c - 7));
  QuantWriteScheme s{.format = QuantFormat::kGptq, .bits = 4, .group_size = -1};
  QuantizedLinearTensors q = Quantize(s, w, n, k);
  EXPECT_EQ(Words(Find(q, ".qweight")), std::vector<uint32_t>(8, 0x87654321u));
  EXPECT_EQ(Words(Find(q, ".qzeros")), (std::vector<uint32_t>{0x77777777u}));  // v1: 8 - 1
  EXPECT_EQ(Words(Find(q, ".g_idx")), std::vector<uint32_t>(8, 0));
  s.gptq_v2 = true;
  EXPECT_EQ(Words(Find(Quantize(s, w, n, k), ".qzeros")), (std::vector<uint32_t>{0x88888888u}));
  s = {.format = QuantFormat::kGptq, .bits = 8, .group_size = -1};
  q = Quantize(s, w, n, k);
  EXPECT_EQ(Words(Find(q, ".qzeros")), (std::vector<uint32_t>{0x7f7f7f7fu, 0x7f7f7f7fu}));
  EXPECT_EQ(Find(q, ".qweight").shape, (std::vector<int64_t>{2, 8}));
}

TEST(QuantWriterLayoutTest, CompressedIntPacksRowsWithTheOffset) {
  const int64_t n = 8, k = 8;
  std::vector<float> w;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) w.push_back(static_cast<float>(c - 7));
  QuantWriteScheme s{.format = QuantFormat::kCompressedInt, .bits = 4, .group_size = -1};
  QuantizedLinearTensors q = Quantize(s, w, n, k);
  EXPECT_EQ(Find(q, ".weight_packed").shape, (std::vector<int64_t>{8, 1}));
  EXPECT_EQ(Words(Find(q, ".weight_packed")), std::vector<uint32_t>(8, 0x87654321u));
  EXPECT_EQ(Find(q, ".weight_scale").shape, (std::vector<int64_t>{8, 1}));
  const TensorToWrite& shape = Find(q, ".weight_shape");
  ASSERT_EQ(shape.dtype, DType::kI64);
  int64_t nk[2];
  std::memcpy(nk, shape.bytes.data(), 16);
  EXPECT_EQ(nk[0], 8);
  EXPECT_EQ(nk[1], 8);
  // Asymmetric: range [-7, 0] over 15 steps (scale 7/15 in BF16), zero 15, stored with no further
  // offset; packed along the output, so 8 rows make one word per group.
  s.symmetric = false;
  q = Quantize(s, w, n, k);
  EXPECT_EQ(Find(q, ".weight_zero_point").shape, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(Words(Find(q, ".weight_zero_point")), (std::vector<uint32_t>{0xffffffffu}));
}

TEST(QuantWriterLayoutTest, Fp8RoundsToNearestEvenAndSaturates) {
  // absmax 448: scale 1, so each value is its own FP8 encoding.
  const std::vector<float> w = {448.0f,
                                1.0f,
                                -2.0f,
                                std::ldexp(1.0f, -9),
                                0.0f,
                                -0.0f,
                                std::ldexp(1.0f, -10),
                                3 * std::ldexp(1.0f, -10),
                                17.0f,
                                18.0f,
                                19.0f,
                                -448.0f};
  const std::vector<uint8_t> want = {0x7e, 0x38, 0xc0, 0x01, 0x00, 0x80,
                                     0x00, 0x02, 0x58, 0x59, 0x5a, 0xfe};
  QuantWriteScheme s{.format = QuantFormat::kCompressedFloat8,
                     .bits = 8,
                     .fp8_tensor_scale = true,
                     .scale_dtype = DType::kF32};
  const QuantizedLinearTensors q = Quantize(s, w, 1, 12);
  const TensorToWrite& t = Find(q, ".weight");
  ASSERT_EQ(t.dtype, DType::kF8E4M3);
  EXPECT_EQ(std::vector<uint8_t>(t.bytes.begin(), t.bytes.end()), want);
  EXPECT_EQ(Find(q, ".weight_scale").shape, (std::vector<int64_t>{1}));
  // 17 and 19 are ties (steps of 2 in [16, 32)): the even codes, 16 and 20.
  EXPECT_EQ(q.dequantized[8], 16.0f);
  EXPECT_EQ(q.dequantized[10], 20.0f);
}

TEST(QuantWriterLayoutTest, ActOrderScattersGroupsOverTheInputs) {
  const int64_t n = 8, k = 64;
  QuantWriteScheme s{.format = QuantFormat::kGptq,
                     .bits = 4,
                     .group_size = 16,
                     .act_order = true,
                     .act_order_seed = 5};
  const std::vector<uint32_t> g_idx = Words(Find(Quantize(s, RandomW(n, k, 1), n, k), ".g_idx"));
  std::vector<int> members(4);
  bool sorted = true;
  for (int64_t i = 0; i < k; ++i) {
    ASSERT_LT(g_idx[i], 4u);
    ++members[g_idx[i]];
    sorted = sorted && g_idx[i] == i / 16;
  }
  EXPECT_EQ(members, (std::vector<int>{16, 16, 16, 16}));
  EXPECT_FALSE(sorted);
}

TEST(QuantWriterLayoutTest, RefusesWhatTheFormatCannotHold) {
  const std::vector<float> w = RandomW(12, 64, 2);
  auto error = [&](const QuantWriteScheme& s, int64_t n, int64_t k) {
    absl::StatusOr<QuantizedLinearTensors> q =
        QuantizeLinearTensors(s, kModule, absl::MakeConstSpan(w).first(n * k), n, k);
    EXPECT_FALSE(q.ok());
    return std::string(q.status().message());
  };
  EXPECT_THAT(error({.format = QuantFormat::kAwq, .group_size = 32}, 12, 64),
              HasSubstr("packs 8 values per word: shape [12, 64] does not"));
  EXPECT_THAT(error({.format = QuantFormat::kGptq, .bits = 3}, 8, 64), HasSubstr("not 3"));
  EXPECT_THAT(error({.format = QuantFormat::kGptq, .group_size = 48}, 8, 64),
              HasSubstr("group size 48 does not divide 64 inputs"));
  EXPECT_THAT(error({.format = QuantFormat::kGptq, .symmetric = false}, 8, 64),
              HasSubstr("GPTQ is written symmetric"));
  std::vector<float> huge(8 * 64, 1e6f);  // scale 1e6 / 7: past F16's 65504
  absl::StatusOr<QuantizedLinearTensors> big =
      QuantizeLinearTensors({.format = QuantFormat::kGptq, .group_size = 32}, kModule, huge, 8, 64);
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(), HasSubstr("scale of row 0 group 0"));
  EXPECT_THAT(big.status().message(), HasSubstr("is not representable in F16"));
  std::vector<float> nan = w;
  nan[7] = std::nanf("");
  absl::StatusOr<QuantizedLinearTensors> q =
      QuantizeLinearTensors({.format = QuantFormat::kAwq, .group_size = 32}, kModule,
                            absl::MakeConstSpan(nan).first(8 * 64), 8, 64);
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(q.status().message(), HasSubstr("weight 7 is not finite"));
}

// --- Through the real readers -------------------------------------------------------------------

using F = QuantFormat;

struct Case {
  std::string name;
  QuantWriteScheme scheme;
  int64_t n = 16, k = 64;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class QuantWriterReaderTest : public ::testing::TestWithParam<Case> {};

TEST_P(QuantWriterReaderTest, ReaderGetsExactlyTheEncodedWeights) {
  const Case& c = GetParam();
  const std::vector<float> w = RandomW(c.n, c.k, 42);
  absl::StatusOr<QuantizedLinearTensors> q = QuantizeLinearTensors(c.scheme, kModule, w, c.n, c.k);
  ASSERT_TRUE(q.ok()) << q.status();

  // The writer's own W is a quantization of w: within half a step of it (FP8: half a mantissa
  // step relative, or half the smallest subnormal step).
  for (int64_t i = 0; i < c.n * c.k; ++i) {
    const double err = std::fabs(q->dequantized[i] - static_cast<double>(w[i]));
    const double bound = c.scheme.format == QuantFormat::kCompressedFloat8
                             ? std::fabs(w[i]) / 16 + 1e-3
                             : (c.scheme.bits == 4 ? 0.9 / 7 : 0.9 / 127) * 0.51;
    ASSERT_LE(err, bound) << i;
  }

  const std::string dir = testing::TestDir("quant_writer", c.name);
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", q->tensors).ok());
  absl::StatusOr<std::unique_ptr<Checkpoint>> ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  absl::StatusOr<std::string> json = QuantizationConfigJson(c.scheme);
  ASSERT_TRUE(json.ok()) << json.status();
  absl::StatusOr<QuantConfig> config = ParseQuantizationConfig(*json, "config.json");
  ASSERT_TRUE(config.ok()) << config.status() << "\n" << *json;
  const QuantScheme* scheme = config->SchemeFor(kModule);
  ASSERT_NE(scheme, nullptr);
  if (c.scheme.format == F::kCompressedInt || c.scheme.format == F::kCompressedFloat8) {
    EXPECT_EQ(config->SchemeFor("lm_head"), nullptr);  // "ignore": ["lm_head"]
  }
  absl::StatusOr<QuantizedLinear> loaded =
      LoadQuantizedLinear(**ckpt, *config, *scheme, kModule, c.n, c.k);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<std::vector<float>> got = loaded->Dequantize();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), q->dequantized.size());
  for (size_t i = 0; i < got->size(); ++i) {
    ASSERT_EQ((*got)[i], q->dequantized[i])
        << "element " << i << " (" << i / c.k << ", " << i % c.k << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, QuantWriterReaderTest,
    ::testing::Values(
        Case{"awq_g32", {.format = F::kAwq, .group_size = 32}},
        Case{"awq_g64", {.format = F::kAwq, .group_size = 64}, 8, 128},
        Case{"gptq_v1_4bit_g32", {.format = F::kGptq, .bits = 4, .group_size = 32}},
        Case{"gptq_v1_8bit_g32", {.format = F::kGptq, .bits = 8, .group_size = 32}},
        Case{"gptq_v2_4bit_g32",
             {.format = F::kGptq, .bits = 4, .group_size = 32, .gptq_v2 = true}},
        Case{"gptq_v2_8bit_g16",
             {.format = F::kGptq, .bits = 8, .group_size = 16, .gptq_v2 = true}},
        Case{"gptq_v1_4bit_channel", {.format = F::kGptq, .bits = 4, .group_size = -1}},
        Case{"gptq_v1_8bit_channel", {.format = F::kGptq, .bits = 8, .group_size = -1}},
        Case{"gptq_desc_act_4bit",
             {.format = F::kGptq,
              .bits = 4,
              .group_size = 16,
              .act_order = true,
              .act_order_seed = 3}},
        Case{"gptq_v2_desc_act_8bit",
             {.format = F::kGptq,
              .bits = 8,
              .group_size = 16,
              .gptq_v2 = true,
              .act_order = true,
              .act_order_seed = 4}},
        Case{"ct_int4_group_sym", {.format = F::kCompressedInt, .bits = 4, .group_size = 32}},
        Case{"ct_int4_group_asym",
             {.format = F::kCompressedInt, .bits = 4, .group_size = 32, .symmetric = false}},
        Case{"ct_int8_group_asym",
             {.format = F::kCompressedInt, .bits = 8, .group_size = 16, .symmetric = false}},
        Case{"ct_int8_channel_sym", {.format = F::kCompressedInt, .bits = 8, .group_size = -1}},
        Case{"ct_int4_channel_asym",
             {.format = F::kCompressedInt, .bits = 4, .group_size = -1, .symmetric = false}},
        Case{
            "ct_int4_f16_scales",
            {.format = F::kCompressedInt, .bits = 4, .group_size = 32, .scale_dtype = DType::kF16}},
        Case{"ct_int4_actorder",
             {.format = F::kCompressedInt,
              .bits = 4,
              .group_size = 16,
              .act_order = true,
              .act_order_seed = 9}},
        Case{"fp8_channel", {.format = F::kCompressedFloat8, .bits = 8}},
        Case{"fp8_tensor",
             {.format = F::kCompressedFloat8,
              .bits = 8,
              .fp8_tensor_scale = true,
              .scale_dtype = DType::kF32}},
        Case{"fp8_channel_f16",
             {.format = F::kCompressedFloat8, .bits = 8, .scale_dtype = DType::kF16}}),
    [](const auto& info) { return info.param.name; });

// --- The fixtures' own layer ------------------------------------------------------------------

// Requantizing the FP8 fixture's exactly dequantized layer-0 q_proj gives its own bytes back: its
// quantizer's scale is also absmax / 448, so each row's largest value is the code 448 times the
// scale. (The integer fixtures differ by design: GPTQ's symmetric scale is 2 absmax / 15 with codes
// down to -8, not absmax / 7, and one row of the AWQ layer never reaches code 15, so min/max
// gives it a smaller scale.)
TEST(QuantWriterFixtureTest, Fp8LayerRequantizesToTheFixtureBytes) {
  const std::string raw = std::string(TESSERA_FIXTURES_DIR) + "/models/quant-llama-fp8";
  if (!std::filesystem::exists(raw)) GTEST_SKIP() << raw << " not found";
  const std::string dir = testing::FixtureModelDir(raw);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> expected =
      SafetensorsFile::Open(dir + "/expected_dequant_layer0_q_proj.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status();
  const TensorView* want = (*expected)->Find("weight");
  ASSERT_NE(want, nullptr);
  const int64_t n = want->shape[0], k = want->shape[1];
  std::vector<float> w(n * k);
  ConvertToFloat(want->dtype, want->data.data(), w.size(), w.data());

  const QuantWriteScheme scheme{.format = F::kCompressedFloat8, .bits = 8};
  absl::StatusOr<QuantizedLinearTensors> q = QuantizeLinearTensors(scheme, kModule, w, n, k);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->dequantized, w);
  absl::StatusOr<std::unique_ptr<Checkpoint>> ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  for (const TensorToWrite& t : q->tensors) {
    const TensorView* f = (*ckpt)->Find(t.name);
    ASSERT_NE(f, nullptr) << t.name;
    EXPECT_EQ(f->dtype, t.dtype) << t.name;
    EXPECT_EQ(f->shape, t.shape) << t.name;
    EXPECT_TRUE(std::equal(f->data.begin(), f->data.end(),
                           reinterpret_cast<const std::byte*>(t.bytes.data()),
                           reinterpret_cast<const std::byte*>(t.bytes.data() + t.bytes.size())))
        << t.name;
  }
}

// --- A whole model folder -----------------------------------------------------------------------

ModelConfig Small() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 64;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000;
  c.max_position_embeddings = 128;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.layer_sliding_window.assign(2, 0);
  return c;
}

TEST(WriteQuantizedCheckpointTest, EveryDecoderLinearReadsBackAsEncoded) {
  const std::string src = testing::TestDir("quant_writer_model", "src");
  ASSERT_TRUE(WriteRandomCheckpoint(src, Small(), {.num_shards = 2, .seed = 3}).ok());
  for (const QuantWriteScheme& scheme :
       {QuantWriteScheme{.format = F::kAwq, .group_size = 32},
        QuantWriteScheme{.format = F::kGptq, .group_size = 32, .act_order = true},
        QuantWriteScheme{.format = F::kCompressedInt, .bits = 8, .group_size = -1},
        QuantWriteScheme{.format = F::kCompressedFloat8, .bits = 8}}) {
    SCOPED_TRACE(static_cast<int>(scheme.format));
    const std::string dst =
        testing::TestDir("quant_writer_model", std::to_string(static_cast<int>(scheme.format)));
    std::map<std::string, std::vector<float>> dequantized;
    absl::Status written = WriteQuantizedCheckpoint(src, dst, scheme, &dequantized);
    ASSERT_TRUE(written.ok()) << written;
    EXPECT_EQ(dequantized.size(), 2u * 7);

    absl::StatusOr<ModelConfig> config = LoadModelConfig(dst);
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<Checkpoint>> ckpt = Checkpoint::Open(dst);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    absl::StatusOr<std::unique_ptr<Checkpoint>> base = Checkpoint::Open(src);
    ASSERT_TRUE(base.ok()) << base.status();
    for (const auto& [module, want] : dequantized) {
      const QuantScheme* s = config->quantization.SchemeFor(module);
      ASSERT_NE(s, nullptr) << module;
      const TensorView* plain = (*base)->Find(module + ".weight");
      ASSERT_NE(plain, nullptr);
      EXPECT_EQ((*ckpt)->Find(module + ".weight") != nullptr,
                scheme.format == F::kCompressedFloat8);  // FP8 keeps the name
      absl::StatusOr<QuantizedLinear> q = LoadQuantizedLinear(
          **ckpt, config->quantization, *s, module, plain->shape[0], plain->shape[1]);
      ASSERT_TRUE(q.ok()) << q.status();
      absl::StatusOr<std::vector<float>> got = q->Dequantize();
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, want) << module;
    }
    // The unquantized tensors are copied as they were.
    for (const char* name : {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
                             "model.layers.1.input_layernorm.weight"}) {
      const TensorView* a = (*base)->Find(name);
      const TensorView* b = (*ckpt)->Find(name);
      ASSERT_NE(b, nullptr) << name;
      EXPECT_EQ(a->dtype, b->dtype);
      EXPECT_TRUE(std::equal(a->data.begin(), a->data.end(), b->data.begin(), b->data.end()));
    }
    // And the CPU engine loads the folder.
    EngineLoadOptions options;
    options.backend = "cpu";
    options.num_kv_blocks = 4;
    options.threads = 1;
    absl::StatusOr<LoadedEngine> engine = LoadEngine(dst, options);
    EXPECT_TRUE(engine.ok()) << engine.status();
  }
}

TEST(WriteQuantizedCheckpointTest, RefusesAQuantizedSourceAndItself) {
  const std::string src = testing::TestDir("quant_writer_model", "refuse");
  ASSERT_TRUE(WriteRandomCheckpoint(src, Small(), {}).ok());
  EXPECT_THAT(WriteQuantizedCheckpoint(src, src, {}).message(), HasSubstr("the source folder"));
  const std::string awq = src + "_awq";
  ASSERT_TRUE(WriteQuantizedCheckpoint(src, awq, {.group_size = 32}).ok());
  EXPECT_THAT(WriteQuantizedCheckpoint(awq, src + "_again", {.group_size = 32}).message(),
              HasSubstr("already quantized"));
}

}  // namespace
}  // namespace tessera
