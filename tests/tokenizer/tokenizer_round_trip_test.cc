// Property: decoding the ids of a text gives the text back. The fixture tokenizers are lossless
// (byte-level BPE, or byte fallback for Llama 2) up to their normalizer: Qwen applies NFC, so its
// round trip gives the NFC form, computed here with utf8proc.
#include <cstdlib>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/tokenizer/test_data.h"
#include "text/tokenizer/tokenizer.h"
#include "utf8proc.h"

namespace tessera {
namespace {

void AppendUtf8(char32_t cp, std::string* out) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string Nfc(const std::string& s) {
  utf8proc_uint8_t* out = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                              static_cast<utf8proc_ssize_t>(s.size()), &out,
                              static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  EXPECT_GE(n, 0);
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

// A random string mixing the kinds of characters that stress the splitter and the byte-level
// mapping: ASCII words and punctuation, whitespace runs, CJK, emoji with modifiers and ZWJ,
// combining marks (also at the start, with nothing to combine with), and apostrophes.
std::string RandomText(std::mt19937& rng) {
  static constexpr char32_t kPicks[][2] = {
      {U'a', U'z'},     {U'A', U'Z'},       {U'0', U'9'},       {U' ', U' '},
      {U'\t', U'\n'},   {U'\r', U'\r'},     {U'!', U'/'},       {U'\'', U'\''},
      {0x3000, 0x3000}, {0x00A0, 0x00FF},   {0x4E00, 0x9FFF},   {0x3040, 0x30FF},
      {0xAC00, 0xD7A3}, {0x1F600, 0x1F64F}, {0x1F3FB, 0x1F3FF}, {0x200B, 0x200D},
      {0x0300, 0x036F}, {0x0900, 0x097F},   {0x0E00, 0x0E7F},   {0x0600, 0x06FF},
      {0xFF10, 0xFF5A}, {0x1F1E6, 0x1F1FF}, {0x017F, 0x017F},   {0xFEFF, 0xFEFF},
  };
  std::uniform_int_distribution<size_t> pick(0, std::size(kPicks) - 1);
  std::uniform_int_distribution<int> length(0, 40);
  std::string s;
  for (int i = length(rng); i > 0; --i) {
    const auto& [lo, hi] = kPicks[pick(rng)];
    std::uniform_int_distribution<uint32_t> cp(lo, hi);
    AppendUtf8(cp(rng), &s);
  }
  return s;
}

class RoundTripTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTripTest, DecodeOfEncodeIsIdentity) {
  const std::string name = GetParam();
  if (!tokenizer_test::HasFixture(name)) GTEST_SKIP() << "tokenizer fixtures not available";
  auto tok = Tokenizer::Load(tokenizer_test::FixtureDir(name));
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::mt19937 rng(20240611);
  int failures = 0;
  for (int i = 0; i < 2000 && failures < 10; ++i) {
    const std::string text = RandomText(rng);
    const std::string expected = name == "qwen3" ? Nfc(text) : text;
    for (bool special : {false, true}) {
      auto ids = (*tok)->Encode(text, special);
      ASSERT_TRUE(ids.ok()) << ids.status();
      auto decoded = (*tok)->Decode(*ids, /*skip_special_tokens=*/true);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      if (*decoded != expected) {
        ++failures;
        ADD_FAILURE() << "text " << nlohmann::json(text).dump() << " came back as "
                      << nlohmann::json(*decoded).dump();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RoundTripTest, ::testing::Values("llama2", "llama3", "qwen3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tessera
