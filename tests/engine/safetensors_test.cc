// SafetensorsFile against valid images, a corpus of malformed ones, files on disk, the real fixture
// and random mutations. Every malformed image must fail with a message naming what is wrong.
#include "engine/safetensors.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

// An image with an explicit header length (which may lie about the header).
std::string ImageWithLength(uint64_t header_len, const std::string& header,
                            const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string Image(const std::string& header, const std::string& data = "") {
  return ImageWithLength(header.size(), header, data);
}

// One tensor entry of a header: "name":{"dtype":..,"shape":..,"data_offsets":[b,e]}.
std::string Entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  uint64_t begin, uint64_t end) {
  return absl::StrCat("\"", name, "\":{\"dtype\":\"", dtype, "\",\"shape\":", shape,
                      ",\"data_offsets\":[", begin, ",", end, "]}");
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

std::string TestDir(const std::string& name) {
  return tessera::testing::TestDir("safetensors_test", name);
}
using tessera::testing::WriteFile;

std::string Bytes(const TensorView& t) {
  return std::string(reinterpret_cast<const char*>(t.data.data()), t.data.size());
}

// A valid two-tensor image: "a" F32 [2, 2] (16 bytes), then "b" BF16 [3] (6 bytes).
std::string ValidImage() {
  std::string data;
  for (int i = 0; i < 22; ++i) data.push_back(static_cast<char>(i + 1));
  return Image(
      absl::StrCat("{\"__metadata__\":{\"format\":\"pt\"},", Entry("a", "F32", "[2,2]", 0, 16), ",",
                   Entry("b", "BF16", "[3]", 16, 22), "}"),
      data);
}

TEST(SafetensorsTest, ValidImageRoundTrips) {
  auto file = SafetensorsFile::FromBytes(ValidImage(), "mem");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->path(), "mem");
  ASSERT_EQ((*file)->tensors().size(), 2u);
  const TensorView* a = (*file)->Find("a");
  const TensorView* b = (*file)->Find("b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ((*file)->Find("c"), nullptr);
  EXPECT_EQ((*file)->Find("__metadata__"), nullptr);
  EXPECT_EQ(a->name, "a");
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a->NumElements(), 4);
  EXPECT_EQ(Bytes(*a),
            std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"));
  EXPECT_EQ(b->dtype, DType::kBF16);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(Bytes(*b), std::string("\x11\x12\x13\x14\x15\x16"));
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
}

TEST(SafetensorsTest, ScalarAndEmptyTensorsAreAccepted) {
  // A 0-d tensor has one element; [0] and [0, huge] have none and may sit anywhere, even at the
  // same offset as another tensor, since they own no bytes.
  const std::string header =
      absl::StrCat("{", Entry("scalar", "F16", "[]", 0, 2), ",", Entry("empty", "F32", "[0]", 2, 2),
                   ",", Entry("empty2", "BF16", "[0,9223372036854775807,4]", 0, 0), "}  ");
  auto file = SafetensorsFile::FromBytes(Image(header, std::string("\x00\x3c", 2)), "mem");
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorView* scalar = (*file)->Find("scalar");
  ASSERT_NE(scalar, nullptr);
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(scalar->NumElements(), 1);
  EXPECT_EQ(Bytes(*scalar), std::string("\x00\x3c", 2));
  const TensorView* empty = (*file)->Find("empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->NumElements(), 0);
  EXPECT_TRUE(empty->data.empty());
  EXPECT_EQ((*file)->Find("empty2")->NumElements(), 0);
}

TEST(SafetensorsTest, EmptyHeaderObjectIsAFileWithoutTensors) {
  auto file = SafetensorsFile::FromBytes(Image("{}"), "mem");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->tensors().empty());
}

struct BadCase {
  std::string name;
  std::string image;
  std::vector<std::string> want;  // substrings of the message, besides the source
};

// Names the case in failure output instead of dumping the struct's bytes.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class MalformedTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedTest, IsRejectedWithANamedReason) {
  const BadCase& c = GetParam();
  auto file = SafetensorsFile::FromBytes(c.image, "bad.safetensors");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
  EXPECT_THAT(Msg(file.status()), HasSubstr("bad.safetensors: "));
  for (const std::string& w : c.want) EXPECT_THAT(Msg(file.status()), HasSubstr(w));
}

std::vector<BadCase> BadCases() {
  const std::string e16 = Entry("t", "F32", "[4]", 0, 16);
  const std::string data16(16, '\0');
  return {
      {"Empty", "", {"too short"}},
      {"Truncated", std::string("\x02\0\0\0", 4), {"4 bytes", "too short"}},
      {"HeaderLongerThanFile", ImageWithLength(100, "{}", ""), {"header length 100"}},
      {"HeaderLengthOverCap",
       ImageWithLength(kMaxSafetensorsHeaderBytes + 1, "{}", ""),
       {"exceeds the limit"}},
      {"HeaderLengthMaxU64", ImageWithLength(~0ull, "{}", ""), {"header length"}},
      {"NotJson", Image("{\"t\":"), {"not valid JSON"}},
      {"NotUtf8", Image("{\"\xff\":1}"), {"not valid JSON"}},
      {"TrailingGarbage", Image("{} x"), {"not valid JSON"}},
      {"NotAnObject", Image("[1,2]"), {"must be a JSON object", "array"}},
      {"EntryNotAnObject", Image("{\"w\":[1]}"), {"tensor \"w\"", "must be an object"}},
      {"MissingDtype",
       Image("{\"w\":{\"shape\":[4],\"data_offsets\":[0,16]}}", data16),
       {"tensor \"w\"", "\"dtype\""}},
      {"MissingShape",
       Image("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", data16),
       {"tensor \"w\"", "\"shape\""}},
      {"MissingOffsets",
       Image("{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", data16),
       {"tensor \"w\"", "\"data_offsets\""}},
      {"DtypeNotString",
       Image("{\"w\":{\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,16]}}", data16),
       {"tensor \"w\"", "\"dtype\" must be a string"}},
      {"UnknownDtypeI8",
       Image(absl::StrCat("{", Entry("w", "I8", "[16]", 0, 16), "}"), data16),
       {"tensor \"w\"", "\"I8\""}},
      {"UnknownDtypeF8E5M2",
       Image(absl::StrCat("{", Entry("w", "F8_E5M2", "[16]", 0, 16), "}"), data16),
       {"tensor \"w\"", "\"F8_E5M2\""}},
      {"QuantizedDtypeSizeMismatch",  // I64 is 8 bytes: [4] needs 32
       Image(absl::StrCat("{", Entry("w", "I64", "[4]", 0, 16), "}"), data16),
       {"tensor \"w\""}},
      {"ShapeNotArray",
       Image(absl::StrCat("{", Entry("w", "F32", "4", 0, 16), "}"), data16),
       {"tensor \"w\"", "\"shape\" must be an array"}},
      {"NegativeDim",
       Image(absl::StrCat("{", Entry("w", "F32", "[-4]", 0, 16), "}"), data16),
       {"tensor \"w\"", "\"shape\"[0]", "-4"}},
      {"FloatDim",
       Image(absl::StrCat("{", Entry("w", "F32", "[2,2.0]", 0, 16), "}"), data16),
       {"tensor \"w\"", "\"shape\"[1]", "2.0"}},
      {"StringDim",
       Image(absl::StrCat("{", Entry("w", "F32", "[\"4\"]", 0, 16), "}"), data16),
       {"tensor \"w\"", "\"shape\"[0]"}},
      {"DimAboveInt64",
       Image(absl::StrCat("{", Entry("w", "F32", "[9223372036854775808]", 0, 16), "}"), data16),
       {"tensor \"w\"", "\"shape\"[0]"}},
      {"DimAboveUint64",
       Image(absl::StrCat("{", Entry("w", "F32", "[18446744073709551616]", 0, 16), "}"), data16),
       {"tensor \"w\"", "\"shape\"[0]"}},
      {"ShapeProductOverflow",
       Image(absl::StrCat("{", Entry("w", "F32", "[4294967296,4294967296,16]", 0, 16), "}"),
             data16),
       {"tensor \"w\"", "overflows"}},
      {"ByteSizeOverflow",
       Image(absl::StrCat("{", Entry("w", "F32", "[4611686018427387904]", 0, 16), "}"), data16),
       {"tensor \"w\"", "overflows"}},
      {"SizeMismatch",
       Image(absl::StrCat("{", Entry("model.norm.weight", "BF16", "[64]", 0, 100), "}"),
             std::string(100, '\0')),
       {"tensor \"model.norm.weight\"",
        "shape [64] x BF16 is 128 bytes but data_offsets span 100"}},
      {"OffsetsBeginAfterEnd",
       Image(absl::StrCat("{", Entry("w", "F32", "[0]", 16, 8), "}"), data16),
       {"tensor \"w\"", "[16, 8]"}},
      {"OffsetsNegative",
       Image("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[-16,0]}}", data16),
       {"tensor \"w\"", "\"data_offsets\""}},
      {"OffsetsThree",
       Image("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16,16]}}", data16),
       {"tensor \"w\"", "\"data_offsets\""}},
      {"OffsetsFloat",
       Image("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16.0]}}", data16),
       {"tensor \"w\"", "\"data_offsets\""}},
      {"OffsetsPastData",
       Image(absl::StrCat("{", Entry("w", "F32", "[4]", 4, 20), "}"), data16),
       {"tensor \"w\"", "past the 16 bytes"}},
      {"OffsetsFarPastData",
       Image(absl::StrCat(
                 "{", Entry("w", "F32", "[4]", 18446744073709551599ull, 18446744073709551615ull),
                 "}"),
             data16),
       {"tensor \"w\"", "past the 16 bytes"}},
      {"Overlapping",
       Image(absl::StrCat("{", Entry("x", "F32", "[4]", 0, 16), ",",
                          Entry("y", "F32", "[2]", 8, 16), "}"),
             data16),
       {"\"x\"", "\"y\"", "overlap"}},
      {"SameRangeTwice",
       Image(absl::StrCat("{", Entry("x", "F32", "[4]", 0, 16), ",",
                          Entry("y", "F32", "[4]", 0, 16), "}"),
             data16),
       {"\"x\"", "\"y\"", "overlap"}},
      {"DuplicateTensorName",
       Image(absl::StrCat("{", Entry("w", "F32", "[4]", 0, 16), ",", Entry("w", "F32", "[2]", 0, 8),
                          "}"),
             data16),
       {"tensor \"w\"", "twice"}},
      {"DuplicateFieldInEntry",
       Image("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"I64\",\"shape\":[4],\"data_offsets\":[0,16]}}",
             data16),
       {"\"dtype\"", "twice"}},
      {"MetadataNotObject", Image("{\"__metadata__\":[\"pt\"]}"), {"\"__metadata__\""}},
      {"MetadataValueNotString",
       Image("{\"__metadata__\":{\"format\":\"pt\",\"step\":3}}"),
       {"\"__metadata__\"", "\"step\"", "number"}},
  };
}

INSTANTIATE_TEST_SUITE_P(Corpus, MalformedTest, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

TEST(SafetensorsTest, LongTensorNamesAreTruncatedInMessages) {
  const std::string name(10000, 'n');
  auto file = SafetensorsFile::FromBytes(
      Image(absl::StrCat("{", Entry(name, "U64", "[1]", 0, 8), "}"), std::string(8, '\0')), "mem");
  ASSERT_FALSE(file.ok());
  EXPECT_LT(file.status().message().size(), 300u) << file.status();
}

// Quantized checkpoints' dtypes: packed I32 words, I64 shapes, FP8 E4M3 weights.
TEST(SafetensorsTest, ReadsQuantizedDtypes) {
  const std::string data(4 + 8 + 4, '\x01');
  auto file = SafetensorsFile::FromBytes(
      Image(absl::StrCat("{", Entry("a", "I32", "[1]", 0, 4), ",", Entry("b", "I64", "[1]", 4, 12),
                         ",", Entry("c", "F8_E4M3", "[2, 2]", 12, 16), "}"),
            data),
      "mem");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Find("a")->dtype, DType::kI32);
  EXPECT_EQ((*file)->Find("b")->dtype, DType::kI64);
  EXPECT_EQ((*file)->Find("c")->dtype, DType::kF8E4M3);
  EXPECT_EQ((*file)->Find("c")->data.size(), 4u);
}

TEST(SafetensorsTest, OpenMapsAValidFile) {
  const std::string dir = TestDir("valid");
  const std::string path = dir + "/model.safetensors";
  WriteFile(path, ValidImage());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->path(), path);
  const TensorView* b = (*file)->Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(Bytes(*b), std::string("\x11\x12\x13\x14\x15\x16"));
}

// Pages of `path` in the page cache, of its total (mincore on a mapping of our own).
std::pair<size_t, size_t> ResidentPages(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  struct stat st {};
  fstat(fd, &st);
  const size_t size = static_cast<size_t>(st.st_size);
  void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> v((size + page - 1) / page);
  mincore(p, size, v.data());
  munmap(p, size);
  size_t resident = 0;
  for (unsigned char r : v) resident += r & 1;
  return {resident, v.size()};
}

// A file evicted from the page cache is read back whole by Prefetch, contents unchanged.
TEST(SafetensorsTest, PrefetchReadsAnEvictedFileIntoThePageCache) {
  const std::string path = TestDir("prefetch") + "/model.safetensors";
  std::string data(8 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  WriteFile(path,
            Image(absl::StrCat("{", Entry("w", "F32", "[2097152]", 0, data.size()), "}"), data));
  {
    const int fd = open(path.c_str(), O_RDONLY);
    fdatasync(fd);  // dirty pages cannot be dropped
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const auto [before, pages] = ResidentPages(path);
  if (before * 2 > pages)
    GTEST_SKIP() << "the page cache kept the file (" << before << " of " << pages
                 << " pages): nothing to observe";
  (*file)->Prefetch();
  const auto [after, total] = ResidentPages(path);
  EXPECT_EQ(after, total) << "resident before: " << before;
  EXPECT_EQ(Bytes(*(*file)->Find("w")), data);
}

TEST(SafetensorsTest, OpenMissingFileIsNotFound) {
  const std::string path = TestDir("missing") + "/nope.safetensors";
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound) << file.status();
  EXPECT_THAT(Msg(file.status()), HasSubstr(path));
}

TEST(SafetensorsTest, OpenDirectoryIsRejected) {
  const std::string dir = TestDir("dir");
  auto file = SafetensorsFile::Open(dir);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(Msg(file.status()), HasSubstr(dir));
  EXPECT_THAT(Msg(file.status()), HasSubstr("not a regular file"));
}

TEST(SafetensorsTest, OpenFifoIsRejectedWithoutBlocking) {
  const std::string path = TestDir("fifo") + "/pipe";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(Msg(file.status()), HasSubstr("not a regular file"));
}

TEST(SafetensorsTest, OpenEmptyFileIsRejected) {
  const std::string path = TestDir("empty") + "/empty.safetensors";
  WriteFile(path, "");
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(file.status()), HasSubstr(path));
  EXPECT_THAT(Msg(file.status()), HasSubstr("empty"));
}

TEST(SafetensorsTest, OpenValidatesLikeFromBytes) {
  const std::string path = TestDir("short") + "/short.safetensors";
  WriteFile(path, "abc");
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(Msg(file.status()), HasSubstr(path + ": file is 3 bytes"));
}

TEST(SafetensorsTest, ReadsTheTinyQwen2Fixture) {
  const std::string path = TESSERA_FIXTURES_DIR "/models/tiny-qwen2/model.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture absent: " << path;
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorView* norm = (*file)->Find("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->dtype, DType::kF16);
  EXPECT_EQ(norm->shape, (std::vector<int64_t>{128}));
  EXPECT_EQ(norm->data.size(), 256u);
  const TensorView* embed = (*file)->Find("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->dtype, DType::kF16);
  EXPECT_EQ(embed->shape, (std::vector<int64_t>{32000, 128}));
  EXPECT_EQ(embed->NumElements(), 32000 * 128);
  // Norm weights are finite; a wrong offset would most likely read embedding noise or garbage.
  std::vector<float> v(norm->NumElements());
  ConvertToFloat(norm->dtype, norm->data.data(), v.size(), v.data());
  for (float x : v) EXPECT_TRUE(std::isfinite(x));
}

// Random damage to a valid image must give OK or an error, never a crash (ASan/UBSan watch), and
// whatever is accepted must be self-consistent.
TEST(SafetensorsTest, SurvivesRandomMutations) {
  const std::string valid = ValidImage();
  uint64_t header_len = 0;
  std::memcpy(&header_len, valid.data(), 8);
  const std::string interesting = "{}[],:\"-.0123456789eE \\u";
  std::mt19937_64 rng(20240611);
  int ok = 0;
  constexpr int kRounds = 4000;
  for (int round = 0; round < kRounds; ++round) {
    std::string image = valid;
    const int kind = static_cast<int>(rng() % 5);
    if (kind == 0) {  // flip bits in the header
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        image[8 + rng() % header_len] ^= static_cast<char>(1 + rng() % 255);
      }
    } else if (kind == 1) {  // JSON-significant characters in the header
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < edits; ++i) {
        image[8 + rng() % header_len] = interesting[rng() % interesting.size()];
      }
    } else if (kind == 2) {  // truncate anywhere
      image.resize(rng() % image.size());
    } else if (kind == 3) {  // a nearby or arbitrary header length
      const uint64_t len = rng() % 2 ? header_len + (rng() % 64) - 32 : rng();
      for (int i = 0; i < 8; ++i) image[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    } else {  // overwrite one byte of the length field
      image[rng() % 8] = static_cast<char>(rng() & 0xff);
    }
    auto file = SafetensorsFile::FromBytes(image, "mutant");
    if (!file.ok()) {
      EXPECT_THAT(Msg(file.status()), HasSubstr("mutant: "));
      continue;
    }
    ++ok;
    for (const auto& [name, t] : (*file)->tensors()) {
      EXPECT_EQ(t.data.size(), static_cast<size_t>(t.NumElements()) * DTypeSize(t.dtype)) << name;
      std::string copy = Bytes(t);  // touches every byte: out of bounds would trip ASan
      EXPECT_EQ(copy.size(), t.data.size());
    }
  }
  // The mutations must exercise both sides; flipped metadata or padding often stays valid.
  EXPECT_GT(ok, 0);
  EXPECT_LT(ok, kRounds);
}

}  // namespace
}  // namespace tessera
