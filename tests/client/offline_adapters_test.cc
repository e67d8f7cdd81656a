// OfflineAdapters: `tessera generate`'s adapters on the fixture model (tiny-llama and its three
// PEFT adapters); the cases that need them skip when the fixtures are absent.
#include "client/offline_adapters.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/model_config.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = TESSERA_FIXTURES_DIR;
const std::string kAdapters = kFixtures + "/adapters";

GenerateRequest Named(const std::string& id, const std::string& adapter) {
  GenerateRequest r;
  r.id = id;
  r.prompt_token_ids = {1, 2};
  auto ref = std::make_shared<AdapterRef>();
  ref->name = adapter;
  r.adapter = std::move(ref);
  return r;
}

TEST(ParseAdapterFlagTest, SplitsNameAndFolderAtTheFirstEquals) {
  auto a = ParseAdapterFlag("sql=/srv/adapters/a=b");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->first, "sql");
  EXPECT_EQ(a->second, "/srv/adapters/a=b");
}

TEST(ParseAdapterFlagTest, RefusesWhatIsNotNameEqualsDir) {
  for (const char* bad : {"sql", "=dir", "sql=", "", "a/b=dir", "..=dir", "sp ace=dir"}) {
    auto a = ParseAdapterFlag(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(a.status()));
    EXPECT_NE(a.status().message().find("--adapter \""), std::string::npos) << a.status();
  }
}

class OfflineAdaptersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kAdapters + "/tiny-llama-r8-all")) {
      GTEST_SKIP() << "fixtures not found at " << kFixtures;
    }
    absl::StatusOr<ModelConfig> model = LoadModelConfig(kFixtures + "/models/tiny-llama");
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *model;
    tmp_ =
        fs::temp_directory_path() /
        ("offline-adapters-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }

  ModelConfig model_;
  fs::path tmp_;
};

TEST_F(OfflineAdaptersTest, PreloadedAdaptersResolveAndShareOneVersion) {
  OfflineAdapterOptions o;
  o.preload = {{"r8", kAdapters + "/tiny-llama-r8-all"},
               {"r16", kAdapters + "/tiny-llama-r16-attn"}};
  auto adapters = OfflineAdapters::Create(model_, o);
  ASSERT_TRUE(adapters.ok()) << adapters.status();
  GenerateRequest a = Named("a", "r8"), b = Named("b", "r8"), c = Named("c", "r16");
  GenerateRequest base;
  ASSERT_TRUE((*adapters)->Resolve(a).ok());
  ASSERT_TRUE((*adapters)->Resolve(b).ok());
  ASSERT_TRUE((*adapters)->Resolve(c).ok());
  ASSERT_TRUE((*adapters)->Resolve(base).ok());
  EXPECT_EQ(base.adapter, nullptr);
  ASSERT_NE(a.adapter->weights, nullptr);
  EXPECT_EQ(a.adapter->name, "r8");
  EXPECT_EQ(a.adapter->weights, b.adapter->weights);  // one slot serves both
  EXPECT_NE(a.adapter->weights, c.adapter->weights);
  EXPECT_EQ(a.adapter->weights->max_rank(), 8);
  EXPECT_EQ(c.adapter->weights->max_rank(), 16);
  EXPECT_EQ((*adapters)->List().size(), 2u);
}

TEST_F(OfflineAdaptersTest, AdapterDirLoadsByNameOnFirstUse) {
  OfflineAdapterOptions o;
  o.adapter_dir = kAdapters;
  auto adapters = OfflineAdapters::Create(model_, o);
  ASSERT_TRUE(adapters.ok()) << adapters.status();
  EXPECT_TRUE((*adapters)->List().empty());
  GenerateRequest r = Named("x", "tiny-llama-r4-mlp");
  ASSERT_TRUE((*adapters)->Resolve(r).ok());
  EXPECT_EQ(r.adapter->weights->max_rank(), 4);
  ASSERT_EQ((*adapters)->List().size(), 1u);
  EXPECT_EQ((*adapters)->List()[0].name, "tiny-llama-r4-mlp");
}

TEST_F(OfflineAdaptersTest, UnknownAdapterIsNotFoundNamingTheRequest) {
  auto without_dir = OfflineAdapters::Create(model_, {});
  ASSERT_TRUE(without_dir.ok());
  GenerateRequest r = Named("req-7", "nope");
  absl::Status s = (*without_dir)->Resolve(r);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_EQ(s.message(),
            "request \"req-7\": adapter nope not found (load it with --adapter NAME=DIR, or give "
            "--adapter-dir)");

  OfflineAdapterOptions o;
  o.adapter_dir = kAdapters;
  auto with_dir = OfflineAdapters::Create(model_, o);
  ASSERT_TRUE(with_dir.ok());
  s = (*with_dir)->Resolve(r);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_NE(s.message().find("--adapter-dir has no folder of that name"), std::string::npos) << s;
}

TEST_F(OfflineAdaptersTest, MalformedAdapterGivesTheLoadersReason) {
  fs::create_directories(tmp_ / "broken");
  std::ofstream(tmp_ / "broken" / "adapter_config.json") << R"({"peft_type": "LORA", "r": 8})";
  std::ofstream(tmp_ / "broken" / "adapter_model.safetensors") << "not safetensors";
  // Preloaded: Create fails.
  OfflineAdapterOptions pre;
  pre.preload = {{"broken", (tmp_ / "broken").string()}};
  auto created = OfflineAdapters::Create(model_, pre);
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(created.status())) << created.status();
  EXPECT_EQ(created.status().message().rfind("adapter broken: ", 0), 0u) << created.status();
  // By name from the adapter dir: the request's Resolve fails, and again without a second load.
  OfflineAdapterOptions lazy;
  lazy.adapter_dir = tmp_.string();
  auto adapters = OfflineAdapters::Create(model_, lazy);
  ASSERT_TRUE(adapters.ok());
  GenerateRequest r = Named("q", "broken");
  absl::Status s = (*adapters)->Resolve(r);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message().rfind("request \"q\": adapter broken: ", 0), 0u) << s;
  GenerateRequest again = Named("q2", "broken");
  EXPECT_EQ((*adapters)->Resolve(again).code(), s.code());
  EXPECT_EQ(again.adapter->weights, nullptr);
}

TEST_F(OfflineAdaptersTest, AdapterOverTheRankLimitIsRefused) {
  OfflineAdapterOptions o;
  o.preload = {{"r16", kAdapters + "/tiny-llama-r16-attn"}};
  o.max_lora_rank = 8;
  auto adapters = OfflineAdapters::Create(model_, o);
  ASSERT_FALSE(adapters.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(adapters.status())) << adapters.status();
}

TEST_F(OfflineAdaptersTest, NameGivenTwiceIsRefused) {
  OfflineAdapterOptions o;
  o.preload = {{"a", kAdapters + "/tiny-llama-r8-all"}, {"a", kAdapters + "/tiny-llama-r4-mlp"}};
  auto adapters = OfflineAdapters::Create(model_, o);
  ASSERT_FALSE(adapters.ok());
  EXPECT_EQ(adapters.status().message(), "--adapter a is given twice");
}

}  // namespace
}  // namespace tessera
