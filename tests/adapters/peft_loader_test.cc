// LoadPeftAdapter: the three fixture adapters (ranks, alphas, targets, dtypes, values, digest), and
// small adapters written into temp dirs with the project's safetensors writer: patterns,
// layers_to_transform, rsLoRA, and every refusal with its message.
#include "adapters/peft_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "adapters/adapter_error.h"
#include "adapters/sha256.h"
#include "authoring/safetensors_writer.h"
#include "engine/json_fields.h"
#include "engine/safetensors.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kFixtures = TESSERA_FIXTURES_DIR;

// ---------------------------------------------------------------------------------------------
// Fixtures

struct FixtureAdapter {
  std::string name;
  int32_t rank;
  double alpha;
  std::vector<LoraModule> modules;
  DType dtype;
};

class FixtureAdapterTest : public ::testing::TestWithParam<FixtureAdapter> {
 protected:
  void SetUp() override {
    dir_ = kFixtures + "/adapters/" + GetParam().name;
    if (!std::filesystem::exists(dir_)) GTEST_SKIP() << "fixtures not found at " << kFixtures;
    absl::StatusOr<ModelConfig> model = LoadModelConfig(kFixtures + "/models/tiny-llama");
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *model;
  }
  std::string dir_;
  ModelConfig model_;
};

TEST_P(FixtureAdapterTest, LoadsWithTheDocumentedRankAlphaTargetsAndDtype) {
  const FixtureAdapter& f = GetParam();
  absl::StatusOr<PeftAdapter> a = LoadPeftAdapter(dir_, model_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->config.r, f.rank);
  EXPECT_EQ(a->config.lora_alpha, f.alpha);
  EXPECT_EQ(a->max_rank, f.rank);
  EXPECT_EQ(a->target_modules, f.modules);
  EXPECT_THAT(a->file_dtypes, ElementsAre(f.dtype));
  ASSERT_NE(a->weights, nullptr);
  EXPECT_TRUE(a->weights->Validate(model_).ok());
  ASSERT_EQ(a->weights->layers.size(), 2u);
  int64_t bytes = 0;
  for (int64_t l = 0; l < 2; ++l) {
    for (int i = 0; i < kNumLoraModules; ++i) {
      const auto m = static_cast<LoraModule>(i);
      const LoraPair* p = a->weights->Find(l, m);
      const bool adapted = std::find(f.modules.begin(), f.modules.end(), m) != f.modules.end();
      ASSERT_EQ(p != nullptr, adapted) << l << " " << LoraModuleName(m);
      if (p == nullptr) continue;
      EXPECT_EQ(p->rank, f.rank);
      EXPECT_FLOAT_EQ(p->scale, static_cast<float>(f.alpha / f.rank));
      EXPECT_EQ(p->in_features, LoraModuleInFeatures(model_, m));
      EXPECT_EQ(p->out_features, LoraModuleOutFeatures(model_, m));
      bytes += static_cast<int64_t>((p->a.size() + p->b.size()) * sizeof(float));
    }
  }
  EXPECT_EQ(a->num_bytes, bytes);
  EXPECT_EQ(a->file_bytes,
            static_cast<int64_t>(std::filesystem::file_size(dir_ + "/adapter_config.json") +
                                 std::filesystem::file_size(dir_ + "/adapter_model.safetensors")));
}

TEST_P(FixtureAdapterTest, ValuesAreTheFileValuesInFp32AndNonZero) {
  absl::StatusOr<PeftAdapter> a = LoadPeftAdapter(dir_, model_);
  ASSERT_TRUE(a.ok()) << a.status();
  auto file = SafetensorsFile::Open(dir_ + "/adapter_model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  const LoraModule m = GetParam().modules.back();
  const LoraPair* p = a->weights->Find(1, m);
  ASSERT_NE(p, nullptr);
  for (const auto& [suffix, got] :
       {std::pair{".lora_A.weight", &p->a}, {".lora_B.weight", &p->b}}) {
    const TensorView* t =
        (*file)->Find(absl::StrCat("base_model.model.", PeftModulePath(1, m), suffix));
    ASSERT_NE(t, nullptr);
    std::vector<float> want(t->NumElements());
    ConvertToFloat(t->dtype, t->data.data(), want.size(), want.data());
    EXPECT_EQ(*got, want);
    int nonzero = 0;
    for (float x : want) nonzero += x != 0;
    EXPECT_GT(nonzero, static_cast<int>(want.size()) / 2);
  }
}

TEST_P(FixtureAdapterTest, DigestIsSha256OfConfigThenWeights) {
  absl::StatusOr<PeftAdapter> a = LoadPeftAdapter(dir_, model_);
  ASSERT_TRUE(a.ok()) << a.status();
  Sha256 sha;
  sha.Update(*ReadSmallFile(dir_ + "/adapter_config.json", 1 << 20));
  sha.Update(*ReadSmallFile(dir_ + "/adapter_model.safetensors", 1 << 30));
  EXPECT_EQ(a->digest, sha.HexDigest());
  EXPECT_EQ(a->digest.size(), 64u);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FixtureAdapterTest,
    ::testing::Values(
        FixtureAdapter{"tiny-llama-r8-all",
                       8,
                       16,
                       {LoraModule::kQ, LoraModule::kK, LoraModule::kV, LoraModule::kO,
                        LoraModule::kGate, LoraModule::kUp, LoraModule::kDown},
                       DType::kF32},
        FixtureAdapter{"tiny-llama-r16-attn",
                       16,
                       32,
                       {LoraModule::kQ, LoraModule::kK, LoraModule::kV, LoraModule::kO},
                       DType::kBF16},
        FixtureAdapter{"tiny-llama-r4-mlp",
                       4,
                       4,
                       {LoraModule::kGate, LoraModule::kUp, LoraModule::kDown},
                       DType::kF16}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& c : n) c = c == '-' ? '_' : c;
      return n;
    });

TEST(Sha256Test, KnownVectors) {
  Sha256 empty;
  EXPECT_EQ(empty.HexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("a");
  abc.Update("bc");
  EXPECT_EQ(abc.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// ---------------------------------------------------------------------------------------------
// Synthetic adapters: a 2-layer model with hidden 8, q 8 (2 heads x 4), kv 4, intermediate 12.

ModelConfig SmallModel() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 4;
  c.max_position_embeddings = 64;
  c.layer_sliding_window.assign(2, 0);
  return c;
}

std::string Name(int64_t layer, LoraModule m, bool a) {
  return absl::StrCat("base_model.model.", PeftModulePath(layer, m), a ? ".lora_A" : ".lora_B",
                      ".weight");
}

// Random non-zero values in [-1, -0.1] U [0.1, 1], encoded as `dtype`.
TensorToWrite Tensor(std::string name, std::vector<int64_t> shape, DType dtype = DType::kF32,
                     uint32_t seed = 1) {
  TensorToWrite t{std::move(name), dtype, std::move(shape), {}};
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.1f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float x = (rng() & 1 ? 1 : -1) * u(rng);
    if (dtype == DType::kF32) {
      t.bytes.append(reinterpret_cast<const char*>(&x), 4);
    } else {
      const uint16_t h = dtype == DType::kBF16 ? FloatToBf16(x) : FloatToF16(x);
      t.bytes.append(reinterpret_cast<const char*>(&h), 2);
    }
  }
  return t;
}

// A and B of one projection with the model's shapes.
void AddPair(std::vector<TensorToWrite>& tensors, int64_t layer, LoraModule m, int64_t rank,
             DType dtype = DType::kF32) {
  const ModelConfig c = SmallModel();
  const auto seed = static_cast<uint32_t>(layer * 16 + static_cast<int>(m));
  tensors.push_back(
      Tensor(Name(layer, m, true), {rank, LoraModuleInFeatures(c, m)}, dtype, 2 * seed + 1));
  tensors.push_back(
      Tensor(Name(layer, m, false), {LoraModuleOutFeatures(c, m), rank}, dtype, 2 * seed + 2));
}

std::string ConfigJson(const std::string& targets = R"(["q_proj", "v_proj"])", int r = 2,
                       const std::string& extra = "") {
  return absl::StrCat(R"({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": )", r,
                      R"(, "lora_alpha": 4, "target_modules": )", targets,
                      extra.empty() ? "" : ", " + extra, "}");
}

// q and v of both layers, rank 2.
std::vector<TensorToWrite> QvTensors(int64_t rank = 2) {
  std::vector<TensorToWrite> t;
  for (int64_t l = 0; l < 2; ++l) {
    AddPair(t, l, LoraModule::kQ, rank);
    AddPair(t, l, LoraModule::kV, rank);
  }
  return t;
}

class SyntheticAdapterTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& config, const std::vector<TensorToWrite>& tensors) {
    const std::string dir = tessera::testing::TestDir(
        "peft_loader_test",
        absl::StrCat(::testing::UnitTest::GetInstance()->current_test_info()->name(), "_", n_++));
    tessera::testing::WriteFile(dir + "/adapter_config.json", config);
    const absl::Status s = WriteSafetensors(dir + "/adapter_model.safetensors", tensors);
    EXPECT_TRUE(s.ok()) << s;
    return dir;
  }
  absl::StatusOr<PeftAdapter> Load(const std::string& config,
                                   const std::vector<TensorToWrite>& tensors,
                                   PeftLoadOptions options = {}) {
    return LoadPeftAdapter(Write(config, tensors), model_, options);
  }
  // Loading fails with InvalidArgument whose message holds every one of `parts`.
  void ExpectRefused(const std::string& config, const std::vector<TensorToWrite>& tensors,
                     const std::vector<std::string>& parts, PeftLoadOptions options = {}) {
    absl::StatusOr<PeftAdapter> a = Load(config, tensors, options);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << a.status();
    for (const std::string& p : parts) EXPECT_THAT(a.status().message(), HasSubstr(p));
  }

  ModelConfig model_ = SmallModel();
  int n_ = 0;
};

TEST_F(SyntheticAdapterTest, LoadsAValidAdapterInEveryDtype) {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    std::vector<TensorToWrite> t;
    for (int64_t l = 0; l < 2; ++l) {
      AddPair(t, l, LoraModule::kQ, 2, dtype);
      AddPair(t, l, LoraModule::kV, 2, dtype);
    }
    absl::StatusOr<PeftAdapter> a = Load(ConfigJson(), t);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_THAT(a->file_dtypes, ElementsAre(dtype));
    const LoraPair* v1 = a->weights->Find(1, LoraModule::kV);
    ASSERT_NE(v1, nullptr);
    std::vector<float> want(v1->b.size());
    ConvertToFloat(dtype, t[7].bytes.data(), want.size(), want.data());  // layer 1 v_proj B
    EXPECT_EQ(v1->b, want);
    EXPECT_FLOAT_EQ(v1->scale, 2.0f);
    EXPECT_EQ(a->weights->Find(0, LoraModule::kK), nullptr);
  }
}

TEST_F(SyntheticAdapterTest, RankAndAlphaPatternsGivePerModuleRanksAndScales) {
  std::vector<TensorToWrite> t;
  AddPair(t, 0, LoraModule::kQ, 2);
  AddPair(t, 1, LoraModule::kQ, 4);
  AddPair(t, 0, LoraModule::kV, 2);
  AddPair(t, 1, LoraModule::kV, 2);
  absl::StatusOr<PeftAdapter> a = Load(
      ConfigJson(
          R"(["q_proj", "v_proj"])", 2,
          R"("rank_pattern": {"layers.1.self_attn.q_proj": 4}, "alpha_pattern": {"v_proj": 1})"),
      t);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->weights->Find(0, LoraModule::kQ)->rank, 2);
  EXPECT_EQ(a->weights->Find(1, LoraModule::kQ)->rank, 4);
  EXPECT_FLOAT_EQ(a->weights->Find(1, LoraModule::kQ)->scale, 1.0f);  // 4 / 4
  EXPECT_FLOAT_EQ(a->weights->Find(0, LoraModule::kV)->scale, 0.5f);  // 1 / 2
  EXPECT_EQ(a->max_rank, 4);
}

TEST_F(SyntheticAdapterTest, RsloraScale) {
  absl::StatusOr<PeftAdapter> a =
      Load(ConfigJson(R"(["q_proj", "v_proj"])", 2, R"("use_rslora": true)"), QvTensors());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FLOAT_EQ(a->weights->Find(0, LoraModule::kQ)->scale,
                  static_cast<float>(4 / std::sqrt(2.0)));
}

TEST_F(SyntheticAdapterTest, RegexTargetsAndLayersToTransform) {
  std::vector<TensorToWrite> t;
  AddPair(t, 1, LoraModule::kK, 2);
  AddPair(t, 1, LoraModule::kDown, 2);
  absl::StatusOr<PeftAdapter> re =
      Load(ConfigJson(R"("model\\.layers\\.1\\.(self_attn\\.k|mlp\\.down)_proj")"), t);
  ASSERT_TRUE(re.ok()) << re.status();
  EXPECT_THAT(re->target_modules, ElementsAre(LoraModule::kK, LoraModule::kDown));
  EXPECT_EQ(re->weights->Find(0, LoraModule::kK), nullptr);
  absl::StatusOr<PeftAdapter> layers =
      Load(ConfigJson(R"(["k_proj", "down_proj"])", 2, R"("layers_to_transform": [1])"), t);
  ASSERT_TRUE(layers.ok()) << layers.status();
  EXPECT_NE(layers->weights->Find(1, LoraModule::kDown), nullptr);
  EXPECT_EQ(layers->weights->Find(0, LoraModule::kDown), nullptr);
}

TEST_F(SyntheticAdapterTest, FanInFanOutIsAcceptedAndChangesNothing) {
  absl::StatusOr<PeftAdapter> a =
      Load(ConfigJson(R"(["q_proj", "v_proj"])", 2, R"("fan_in_fan_out": true)"), QvTensors());
  ASSERT_TRUE(a.ok()) << a.status();
}

TEST_F(SyntheticAdapterTest, DigestChangesWithEitherFile) {
  absl::StatusOr<PeftAdapter> a = Load(ConfigJson(), QvTensors());
  absl::StatusOr<PeftAdapter> same = Load(ConfigJson(), QvTensors());
  absl::StatusOr<PeftAdapter> config = Load(ConfigJson() + " ", QvTensors());
  std::vector<TensorToWrite> t = QvTensors();
  t[0].bytes[0] ^= 1;
  absl::StatusOr<PeftAdapter> weights = Load(ConfigJson(), t);
  ASSERT_TRUE(a.ok() && same.ok() && config.ok() && weights.ok());
  EXPECT_EQ(a->digest, same->digest);
  EXPECT_NE(a->digest, config->digest);
  EXPECT_NE(a->digest, weights->digest);
}

TEST_F(SyntheticAdapterTest, MissingFiles) {
  const std::string empty = tessera::testing::TestDir("peft_loader_test", "empty");
  EXPECT_EQ(LoadPeftAdapter(empty, model_).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadPeftAdapter(empty + "/nope", model_).status().code(), absl::StatusCode::kNotFound);
  tessera::testing::WriteFile(empty + "/adapter_config.json", ConfigJson());
  EXPECT_EQ(LoadPeftAdapter(empty, model_).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SyntheticAdapterTest, PickleBinAloneIsRefused) {
  const std::string dir = tessera::testing::TestDir("peft_loader_test", "pickle");
  tessera::testing::WriteFile(dir + "/adapter_config.json", ConfigJson());
  tessera::testing::WriteFile(dir + "/adapter_model.bin", "\x80\x02}q\x00.");
  absl::StatusOr<PeftAdapter> a = LoadPeftAdapter(dir, model_);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(a.status().message(),
              HasSubstr("pickle .bin files are not loaded: convert to safetensors"));
}

TEST_F(SyntheticAdapterTest, ConfigRefusalsPropagate) {
  ExpectRefused(ConfigJson(R"(["q_proj", "v_proj"])", 2, R"("use_dora": true)"), QvTensors(),
                {"adapter_config.json", "\"use_dora\""});
  ExpectRefused(ConfigJson(R"(["q_proj"])", 2, R"("modules_to_save": ["score"])"), QvTensors(),
                {"\"modules_to_save\""});
  ExpectRefused(ConfigJson(R"(["c_attn"])"), QvTensors(), {"selects no projection"});
  ExpectRefused(ConfigJson(R"(["q_proj"])", 2, R"("layers_to_transform": [5])"), QvTensors(),
                {"selects no projection"});
}

TEST_F(SyntheticAdapterTest, MissingTensor) {
  std::vector<TensorToWrite> t = QvTensors();
  t.pop_back();  // layer 1 v_proj lora_B
  ExpectRefused(ConfigJson(), t,
                {"model.layers.1.self_attn.v_proj.lora_B.weight", "missing",
                 "targets model.layers.1.self_attn.v_proj"});
}

// safetensors also reads the dtypes of quantized checkpoints; an adapter tensor in one of them is
// refused, not converted as if it were floats.
TEST_F(SyntheticAdapterTest, NonFloatDtypesAreRefused) {
  std::vector<TensorToWrite> t = QvTensors();
  t.back().dtype = DType::kI32;  // layer 1 v_proj lora_B: same byte count as F32
  ExpectRefused(ConfigJson(), t,
                {"model.layers.1.self_attn.v_proj.lora_B.weight", "dtype I32", "BF16, F16 or F32"});
}

TEST_F(SyntheticAdapterTest, UnexpectedTensors) {
  for (const std::string& name :
       {std::string("base_model.model.model.layers.0.self_attn.q_proj.bias"),
        std::string("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"),
        std::string("base_model.model.model.embed_tokens.lora_embedding_A"),
        std::string("base_model.model.model.layers.0.attn.c_attn.lora_A.weight"),
        std::string("base_model.model.model.layers.0.mlp.q_proj.lora_A.weight"),
        std::string("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"),
        std::string("base_model.model.lm_head.lora_A.weight"),
        std::string("model.layers.0.self_attn.q_proj.lora_A.weight")}) {
    std::vector<TensorToWrite> t = QvTensors();
    t.push_back(Tensor(name, {2, 8}));
    ExpectRefused(ConfigJson(), t, {name, "unexpected"});
  }
}

TEST_F(SyntheticAdapterTest, TensorOfAnUntargetedModule) {
  std::vector<TensorToWrite> t = QvTensors();
  AddPair(t, 0, LoraModule::kK, 2);
  ExpectRefused(ConfigJson(), t,
                {"model.layers.0.self_attn.k_proj.lora_A.weight", "does not target"});
}

TEST_F(SyntheticAdapterTest, LayerIndexBeyondTheModel) {
  std::vector<TensorToWrite> t = QvTensors();
  AddPair(t, 2, LoraModule::kQ, 2);
  ExpectRefused(ConfigJson(), t, {"layers.2.", "layer index 2 is outside the base model's 2"});
}

TEST_F(SyntheticAdapterTest, WrongShapes) {
  {
    std::vector<TensorToWrite> t = QvTensors();
    t[0] = Tensor(Name(0, LoraModule::kQ, true), {2, 7});
    ExpectRefused(ConfigJson(), t, {"q_proj.lora_A", "shape [2, 7], expected [rank, 8]"});
  }
  {
    std::vector<TensorToWrite> t = QvTensors();
    t[3] = Tensor(Name(0, LoraModule::kV, false), {8, 2});  // v_proj out is 4
    ExpectRefused(ConfigJson(), t, {"v_proj.lora_B", "shape [8, 2], expected [4, rank]"});
  }
  {
    std::vector<TensorToWrite> t = QvTensors();
    t[0] = Tensor(Name(0, LoraModule::kQ, true), {1, 2, 8});
    ExpectRefused(ConfigJson(), t, {"shape [1, 2, 8]"});
  }
}

TEST_F(SyntheticAdapterTest, RankMismatchBetweenAAndB) {
  std::vector<TensorToWrite> t = QvTensors();
  t[1] = Tensor(Name(0, LoraModule::kQ, false), {8, 3});
  ExpectRefused(ConfigJson(), t, {"q_proj.lora_B", "rank 3 differs from lora_A's rank 2"});
}

TEST_F(SyntheticAdapterTest, RankOtherThanConfigured) {
  ExpectRefused(ConfigJson(R"(["q_proj", "v_proj"])", 3), QvTensors(2),
                {"rank 2, but adapter_config.json gives", "rank 3"});
}

TEST_F(SyntheticAdapterTest, RankAboveMaxLoraRank) {
  PeftLoadOptions options;
  options.max_lora_rank = 2;
  EXPECT_TRUE(Load(ConfigJson(), QvTensors(2), options).ok());
  ExpectRefused(ConfigJson(R"(["q_proj", "v_proj"])", 4), QvTensors(4),
                {"rank 4", "exceeds --max-lora-rank 2"}, options);
  ExpectRefused(ConfigJson(R"(["q_proj", "v_proj"])", 2, R"("rank_pattern": {"v_proj": 3})"),
                QvTensors(2), {"model.layers.0.self_attn.v_proj", "--max-lora-rank 2"}, options);
}

TEST_F(SyntheticAdapterTest, NonFiniteValues) {
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<TensorToWrite> t = QvTensors();
    std::memcpy(t[5].bytes.data() + 4, &bad, 4);  // layer 1 q_proj lora_B
    ExpectRefused(ConfigJson(), t, {"layers.1.self_attn.q_proj.lora_B", "NaN or infinite"});
  }
  std::vector<TensorToWrite> t;
  for (int64_t l = 0; l < 2; ++l) {
    AddPair(t, l, LoraModule::kQ, 2, DType::kF16);
    AddPair(t, l, LoraModule::kV, 2, DType::kF16);
  }
  const uint16_t inf = 0x7c00;
  std::memcpy(t[2].bytes.data(), &inf, 2);
  ExpectRefused(ConfigJson(), t, {"layers.0.self_attn.v_proj.lora_A", "NaN or infinite"});
}

// Every entry of `t` set to `value` (F32 tensors).
void Fill(TensorToWrite& t, float value) {
  for (size_t i = 0; i + 4 <= t.bytes.size(); i += 4) std::memcpy(t.bytes.data() + i, &value, 4);
}

TEST_F(SyntheticAdapterTest, HugeButFiniteWeightsAreRefused) {
  {
    std::vector<TensorToWrite> t = QvTensors();
    const float huge = 1e20f;
    std::memcpy(t[5].bytes.data() + 4, &huge, 4);  // layer 1 q_proj lora_B, index 1
    ExpectRefused(ConfigJson(), t,
                  {"layers.1.self_attn.q_proj.lora_B", "holds 1e+20 at index 1", "+-1000"});
  }
  {
    // Entries within the bound but a gain of 2 (scale) * 2 (rank) * 900 * (8 * 900) = 2.6e7.
    std::vector<TensorToWrite> t = QvTensors();
    Fill(t[0], 900);  // layer 0 q_proj lora_A [2, 8]
    Fill(t[1], 900);  // lora_B [8, 2]
    ExpectRefused(ConfigJson(), t,
                  {"layers.0.self_attn.q_proj.lora_B", "the gain 2.592e+07", "bound 1e+06"});
  }
  // Large but plausible entries load: a gain of 2 * 2 * 10 * (8 * 10) = 3200.
  std::vector<TensorToWrite> t = QvTensors();
  Fill(t[0], 10);
  Fill(t[1], -10);
  EXPECT_TRUE(Load(ConfigJson(), t).ok());
}

TEST_F(SyntheticAdapterTest, ScaleOfEveryModuleIsBounded) {
  // lora_alpha / r is 2, but alpha_pattern gives v_proj 1e5 / 2.
  ExpectRefused(ConfigJson(R"(["q_proj", "v_proj"])", 2, R"("alpha_pattern": {"v_proj": 1e5})"),
                QvTensors(),
                {"scale 50000 of model.layers.0.self_attn.v_proj", "above the bound 10000"});
  ExpectRefused(
      R"({"peft_type": "LORA", "r": 2, "lora_alpha": 1e38, "target_modules": ["q_proj", "v_proj"]})",
      QvTensors(), {"\"lora_alpha\" 1e+38", "above the bound 10000"});
}

TEST_F(SyntheticAdapterTest, HostileSafetensorsIsRefusedByTheParser) {
  const std::string dir = tessera::testing::TestDir("peft_loader_test", "hostile");
  tessera::testing::WriteFile(dir + "/adapter_config.json", ConfigJson());
  std::string bad(8, '\0');
  bad[0] = 100;  // header longer than the file
  bad += "{\"a\":";
  tessera::testing::WriteFile(dir + "/adapter_model.safetensors", bad);
  absl::StatusOr<PeftAdapter> a = LoadPeftAdapter(dir, model_);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(a.status().message(), HasSubstr("adapter_model.safetensors"));
  PeftLoadOptions tiny;
  tiny.max_file_bytes = 4;
  EXPECT_THAT(LoadPeftAdapter(dir, model_, tiny).status().message(), HasSubstr("larger than 4"));
}

// Every file is confined to the adapter folder, not only the folder: a file symlinked to one
// outside is refused, with a message that names it by its name in the folder and no server path.
TEST_F(SyntheticAdapterTest, FilesSymlinkedOutOfTheFolderAreRefused) {
  const std::string good = Write(ConfigJson(), QvTensors());
  ASSERT_TRUE(LoadPeftAdapter(good, model_).ok());
  for (const std::string file : {"adapter_config.json", "adapter_model.safetensors"}) {
    const std::string dir = Write(ConfigJson(), QvTensors());
    std::filesystem::remove(dir + "/" + file);
    std::filesystem::create_symlink(good + "/" + file, dir + "/" + file);
    absl::StatusOr<PeftAdapter> a = LoadPeftAdapter(dir, model_);
    ASSERT_FALSE(a.ok()) << file;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(a.status().message(),
              absl::StrCat(file, " leads outside the adapter folder (a symlink?)"));
    // The operator's detail names both ends.
    EXPECT_THAT(AdapterErrorDetail(a.status()),
                HasSubstr((std::filesystem::canonical(good) / file).string()));
  }
  // Links within the folder are followed (a folder laid out as blobs plus links).
  const std::string inside = Write(ConfigJson(), QvTensors());
  std::filesystem::create_directories(inside + "/blobs");
  std::filesystem::rename(inside + "/adapter_model.safetensors", inside + "/blobs/w");
  std::filesystem::create_symlink("blobs/w", inside + "/adapter_model.safetensors");
  EXPECT_TRUE(LoadPeftAdapter(inside, model_).ok());
  // A folder in place of a file, and a FIFO (which must not hang the loader).
  const std::string odd = Write(ConfigJson(), QvTensors());
  std::filesystem::remove(odd + "/adapter_model.safetensors");
  std::filesystem::create_directory(odd + "/adapter_model.safetensors");
  EXPECT_EQ(LoadPeftAdapter(odd, model_).status().message(),
            "adapter_model.safetensors is not a regular file");
  std::filesystem::remove(odd + "/adapter_model.safetensors");
  ASSERT_EQ(mkfifo((odd + "/adapter_model.safetensors").c_str(), 0600), 0);
  EXPECT_EQ(LoadPeftAdapter(odd, model_).status().message(),
            "adapter_model.safetensors is not a regular file");
}

// Messages may reach remote callers: no absolute path, and nothing quoted from a file that does
// not parse (a safetensors header length is the file's first 8 bytes).
TEST_F(SyntheticAdapterTest, MessagesCarryNoPathsNorBytesOfUnparsedFiles) {
  const std::string dir = Write(ConfigJson(), QvTensors());
  tessera::testing::WriteFile(dir + "/adapter_model.safetensors",
                              "root:x:0:0:root:/root:/bin/bash\n");
  absl::StatusOr<PeftAdapter> a = LoadPeftAdapter(dir, model_);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().message(), "adapter_model.safetensors is not a valid safetensors file");
  EXPECT_THAT(AdapterErrorDetail(a.status()), HasSubstr(std::filesystem::canonical(dir).string()));
  // Refusals of the content name the file relative to the folder.
  std::vector<TensorToWrite> t = QvTensors();
  t[0] = Tensor(Name(0, LoraModule::kQ, true), {2, 7});
  absl::StatusOr<PeftAdapter> shape = Load(ConfigJson(), t);
  ASSERT_FALSE(shape.ok());
  EXPECT_THAT(std::string(shape.status().message()),
              ::testing::StartsWith("adapter_model.safetensors: tensor"));
  absl::StatusOr<PeftAdapter> rank = Load(ConfigJson(R"(["q_proj", "v_proj"])", 99), QvTensors());
  ASSERT_FALSE(rank.ok());
  EXPECT_THAT(std::string(rank.status().message()),
              ::testing::StartsWith("adapter_config.json: rank 99"));
  const std::string pickle = tessera::testing::TestDir("peft_loader_test", "pickle-path");
  tessera::testing::WriteFile(pickle + "/adapter_config.json", ConfigJson());
  tessera::testing::WriteFile(pickle + "/adapter_model.bin", "x");
  for (const absl::Status& s :
       {shape.status(), rank.status(), LoadPeftAdapter(pickle, model_).status()}) {
    EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("/tmp"))) << s;
    EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("peft_loader_test"))) << s;
  }
}

}  // namespace
}  // namespace tessera
