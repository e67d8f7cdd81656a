// Checkpoint over single-file and sharded model directories built in temp dirs, broken indexes and
// shards, and the tiny-llama fixture.
#include "engine/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "authoring/safetensors_writer.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct FakeTensor {
  std::string name;
  std::vector<int64_t> shape;  // F32; every byte of tensor i is i + 1
};

// A safetensors image of F32 tensors laid out back to back.
std::string Shard(const std::vector<FakeTensor>& tensors) {
  std::string header = "{";
  std::string data;
  for (size_t i = 0; i < tensors.size(); ++i) {
    int64_t n = 4;
    for (int64_t d : tensors[i].shape) n *= d;
    absl::StrAppend(&header, i ? "," : "", "\"", tensors[i].name,
                    "\":{\"dtype\":\"F32\",\"shape\":[", absl::StrJoin(tensors[i].shape, ","),
                    "],\"data_offsets\":[", data.size(), ",", data.size() + n, "]}");
    data.append(static_cast<size_t>(n), static_cast<char>(i + 1));
  }
  header += "}";
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string TestDir(const std::string& name) {
  return tessera::testing::TestDir("checkpoint_test", name);
}
using tessera::testing::WriteFile;

// {"weight_map": {tensor: shard, ...}} from (tensor, shard) pairs.
std::string Index(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<std::string> parts;
  for (const auto& [tensor, shard] : entries) {
    parts.push_back(absl::StrCat("\"", tensor, "\": \"", shard, "\""));
  }
  return absl::StrCat("{\"metadata\": {\"total_size\": 1}, \"weight_map\": {",
                      absl::StrJoin(parts, ", "), "}}");
}

// Two shards: a.safetensors holds "x" [2, 3] and "y" [4]; b.safetensors holds "z" [5].
std::string ShardedDir(const std::string& name) {
  const std::string dir = TestDir(name);
  WriteFile(dir + "/a.safetensors", Shard({{"x", {2, 3}}, {"y", {4}}}));
  WriteFile(dir + "/b.safetensors", Shard({{"z", {5}}}));
  WriteFile(dir + "/model.safetensors.index.json",
            Index({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));
  return dir;
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

TEST(CheckpointTest, OpensASingleFile) {
  const std::string dir = TestDir("single");
  WriteFile(dir + "/model.safetensors", Shard({{"w", {2, 2}}, {"b", {2}}}));
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_THAT((*ckpt)->Names(), ElementsAre("b", "w"));
  EXPECT_EQ((*ckpt)->TotalBytes(), 24u);
  EXPECT_EQ((*ckpt)->FileOf("w"), dir + "/model.safetensors");
  EXPECT_EQ((*ckpt)->FileOf("nope"), "");
  auto w = (*ckpt)->Get("w", {2, 2});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->data.size(), 16u);
  EXPECT_EQ(static_cast<char>((*w)->data[0]), 1);
}

TEST(CheckpointTest, OpensShards) {
  const std::string dir = ShardedDir("sharded");
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_THAT((*ckpt)->Names(), ElementsAre("x", "y", "z"));
  EXPECT_EQ((*ckpt)->TotalBytes(), (6u + 4u + 5u) * 4u);
  EXPECT_EQ((*ckpt)->FileOf("y"), dir + "/a.safetensors");
  EXPECT_EQ((*ckpt)->FileOf("z"), dir + "/b.safetensors");
  const TensorView* z = (*ckpt)->Find("z");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->shape, (std::vector<int64_t>{5}));
  EXPECT_EQ(static_cast<char>(z->data[19]), 1);
  EXPECT_EQ((*ckpt)->Find("nope"), nullptr);
}

TEST(CheckpointTest, IndexTakesPrecedenceOverASingleFile) {
  const std::string dir = ShardedDir("both");
  WriteFile(dir + "/model.safetensors", Shard({{"other", {1}}}));
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_THAT((*ckpt)->Names(), ElementsAre("x", "y", "z"));
}

TEST(CheckpointTest, TensorsOutsideTheIndexAreAvailable) {
  const std::string dir = ShardedDir("extra");
  WriteFile(dir + "/model.safetensors.index.json",
            Index({{"x", "a.safetensors"}, {"z", "b.safetensors"}}));
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_NE((*ckpt)->Find("y"), nullptr);
}

TEST(CheckpointTest, GetChecksShapeAndPresence) {
  const std::string dir = ShardedDir("get");
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();

  auto wrong = (*ckpt)->Get("x", {3, 2});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(wrong.status()),
            absl::StrCat(dir, "/a.safetensors: tensor \"x\" has shape [2, 3], expected [3, 2]"));

  auto missing = (*ckpt)->Get("lm_head.weight", {1});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Msg(missing.status()), absl::StrCat(dir, ": tensor \"lm_head.weight\" is missing"));
}

// Packed quantized words are never a plain weight: Get refuses them, naming the tensor, so no
// loader converts I32 bits to floats.
TEST(CheckpointTest, GetRefusesQuantizedDtypes) {
  const std::string dir = TestDir("quantized_dtype");
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors",
                               {{"q.qweight", DType::kI32, {2}, std::string(8, '\0')},
                                {"f.weight", DType::kF8E4M3, {2}, std::string(2, '\0')}})
                  .ok());
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto q = (*ckpt)->Get("q.qweight", {2});
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(q.status()), ::testing::HasSubstr("tensor \"q.qweight\" has dtype I32"));
  EXPECT_FALSE((*ckpt)->Get("f.weight", {2}).ok());
}

TEST(CheckpointTest, IndexNamingAMissingShard) {
  const std::string dir = ShardedDir("missing_shard");
  WriteFile(dir + "/model.safetensors.index.json",
            Index({{"x", "a.safetensors"}, {"z", "c.safetensors"}}));
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kNotFound) << ckpt.status();
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr("\"c.safetensors\""));
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr(dir + "/c.safetensors"));
}

TEST(CheckpointTest, ShardNamesMustBePlainFileNames) {
  for (const std::string bad : {"../x", "a/b", "/etc/passwd", "..", ".", ""}) {
    SCOPED_TRACE(bad);
    const std::string dir = ShardedDir("bad_name");
    WriteFile(dir + "/model.safetensors.index.json", Index({{"x", "a.safetensors"}, {"z", bad}}));
    auto ckpt = Checkpoint::Open(dir);
    ASSERT_FALSE(ckpt.ok());
    EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(ckpt.status()), HasSubstr("model.safetensors.index.json"));
    EXPECT_THAT(Msg(ckpt.status()), HasSubstr("tensor \"z\""));
    EXPECT_THAT(Msg(ckpt.status()), HasSubstr(absl::StrCat("\"", bad, "\"")));
  }
}

TEST(CheckpointTest, ShardNameWithNulIsRejected) {
  const std::string dir = ShardedDir("nul");
  WriteFile(dir + "/model.safetensors.index.json",
            "{\"weight_map\": {\"z\": \"b.safetensors\\u0000.txt\"}}");
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr("plain file name"));
}

TEST(CheckpointTest, TensorListedButAbsentFromItsShard) {
  const std::string dir = ShardedDir("absent");
  WriteFile(dir + "/model.safetensors.index.json",
            Index({{"x", "a.safetensors"}, {"z", "a.safetensors"}, {"q", "b.safetensors"}}));
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument);
  // "q" sorts first; it is in no shard at all.
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr(dir + "/b.safetensors: tensor \"q\""));
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr("not in this shard"));

  WriteFile(dir + "/model.safetensors.index.json",
            Index({{"x", "a.safetensors"}, {"z", "a.safetensors"}}));
  ckpt = Checkpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr(dir + "/a.safetensors: tensor \"z\""));
}

TEST(CheckpointTest, TensorInTwoShards) {
  const std::string dir = ShardedDir("twice");
  WriteFile(dir + "/b.safetensors", Shard({{"z", {5}}, {"y", {4}}}));
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr("tensor \"y\""));
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr(dir + "/a.safetensors"));
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr(dir + "/b.safetensors"));
}

TEST(CheckpointTest, MalformedIndexes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"weight_map\": ", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {"{\"metadata\": {}}", "\"weight_map\" is required"},
      {"{\"weight_map\": [\"a.safetensors\"]}", "\"weight_map\" must be an object"},
      {"{\"weight_map\": {}}", "no tensors"},
      {"{\"weight_map\": {\"x\": 3}}", "tensor \"x\": shard must be a string"},
  };
  for (const auto& [index, want] : cases) {
    SCOPED_TRACE(index);
    const std::string dir = ShardedDir("malformed");
    WriteFile(dir + "/model.safetensors.index.json", index);
    auto ckpt = Checkpoint::Open(dir);
    ASSERT_FALSE(ckpt.ok());
    EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(ckpt.status()), HasSubstr(dir + "/model.safetensors.index.json: "));
    EXPECT_THAT(Msg(ckpt.status()), HasSubstr(want));
  }
}

TEST(CheckpointTest, BrokenShardIsReportedWithItsPath) {
  const std::string dir = ShardedDir("broken_shard");
  WriteFile(dir + "/b.safetensors", "garbage");
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr(dir + "/b.safetensors: file is 7 bytes"));
}

TEST(CheckpointTest, NoWeightsAtAll) {
  const std::string dir = TestDir("empty");
  WriteFile(dir + "/config.json", "{}");
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr(dir));
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr("model.safetensors.index.json"));
  EXPECT_THAT(Msg(ckpt.status()), HasSubstr("model.safetensors "));

  auto nodir = Checkpoint::Open(dir + "/does_not_exist");
  ASSERT_FALSE(nodir.ok());
  EXPECT_EQ(nodir.status().code(), absl::StatusCode::kNotFound);
}

TEST(CheckpointTest, ReadsTheTinyLlamaFixture) {
  const std::string dir = TESSERA_FIXTURES_DIR "/models/tiny-llama";
  if (!std::filesystem::exists(dir + "/model.safetensors.index.json")) {
    GTEST_SKIP() << "fixture absent: " << dir;
  }
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto lm_head = (*ckpt)->Get("lm_head.weight", {32000, 64});
  ASSERT_TRUE(lm_head.ok()) << lm_head.status();
  EXPECT_EQ((*lm_head)->dtype, DType::kBF16);
  EXPECT_EQ((*ckpt)->FileOf("lm_head.weight"), dir + "/model-00001-of-00003.safetensors");
  auto q = (*ckpt)->Get("model.layers.0.self_attn.q_proj.weight", {256, 64});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ((*q)->dtype, DType::kBF16);
  EXPECT_EQ((*q)->data.size(), 256u * 64u * 2u);
  // The index's metadata.total_size is the sum of the tensor bytes.
  EXPECT_EQ((*ckpt)->TotalBytes(), 8536704u);
  EXPECT_FALSE((*ckpt)->Get("lm_head.weight", {64, 32000}).ok());
}

}  // namespace
}  // namespace tessera
