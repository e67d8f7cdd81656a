// Fuzzes Tokenizer::FromJson on arbitrary bytes: loading either succeeds or fails with
// InvalidArgument, and a tokenizer that loads encodes and decodes a few texts consistently
// (plain ids are tokens and decode; decoded text is valid UTF-8; invalid UTF-8 is refused).
// The fuzzer writes its own regexes (Split, Replace), which run through Oniguruma: encoding and
// decoding may then also fail with ResourceExhausted, when one hits its backtracking limit.
// Input: tokenizer.json, optionally followed by a NUL byte and tokenizer_config.json (JSON text
// holds no raw NUL, so the split is unambiguous). Run with -dict=tokenizer_json.dict.
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "tests/fuzz/fuzz_check.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera::fuzz {
namespace {

// Texts that reach each component: spaces and U+2581 for sentencepiece normalizers, letters,
// digits, punctuation, contractions and newlines for the split patterns, added-token lookalikes,
// non-NFC and non-ASCII text for NFC and byte fallback.
constexpr std::string_view kTexts[] = {
    "",
    "Hello world",
    "  two  spaces, tab\tand newlines\r\n\n",
    "I'm here; they'LL go 12345 times!",
    "e\u0301 \u2581x \u00e9t\u00e9",
    "<s>a</s> <unk> <|im_start|>user\n<|endoftext|>",
    "\u65e5\u672c\u8a9e \xF0\x9F\x98\x80 \u3000",
    "ab abc abcd hi hi",
};

void CheckEncodeDecode(const Tokenizer& t, std::string_view text) {
  const int32_t id_end = t.id_end();
  auto ids = t.Encode(text, /*add_special_tokens=*/false);
  if (absl::IsResourceExhausted(ids.status())) return;
  FUZZ_CHECK(ids.ok(), "%s", ids.status().ToString().c_str());
  for (int32_t id : *ids) FUZZ_CHECK(id >= 0 && id < id_end, "Encode gave id %d", id);
  auto decoded = t.Decode(*ids, /*skip_special_tokens=*/false);
  if (absl::IsResourceExhausted(decoded.status())) return;
  FUZZ_CHECK(decoded.ok(), "Decode of Encode's ids: %s", decoded.status().ToString().c_str());
  FUZZ_CHECK(IsValidUtf8(*decoded), "Decode gave invalid UTF-8");

  // The template's ids are not checked against the vocabulary at load time (nor by Hugging Face),
  // so decoding them may fail, but only with InvalidArgument.
  auto special = t.Encode(text, /*add_special_tokens=*/true);
  FUZZ_CHECK(special.ok(), "%s", special.status().ToString().c_str());
  auto decoded_special = t.Decode(*special, /*skip_special_tokens=*/true);
  FUZZ_CHECK(decoded_special.ok() || absl::IsInvalidArgument(decoded_special.status()) ||
                 absl::IsResourceExhausted(decoded_special.status()),
             "%s", decoded_special.status().ToString().c_str());
  if (decoded_special.ok()) FUZZ_CHECK(IsValidUtf8(*decoded_special), "invalid UTF-8");
}

// Every id of a small vocabulary one by one and all together, plus the ids just outside it.
void CheckDecodeIds(const Tokenizer& t) {
  const int32_t id_end = t.id_end();
  std::vector<int32_t> all;
  for (int32_t id = -1; id <= std::min(id_end, 1024); ++id) {
    auto text = t.Decode({id}, /*skip_special_tokens=*/false);
    if (id < 0 || id >= id_end) FUZZ_CHECK(!text.ok(), "Decode accepted id %d", id);
    if (!text.ok()) {
      FUZZ_CHECK(absl::IsInvalidArgument(text.status()) || absl::IsResourceExhausted(text.status()),
                 "%s", text.status().ToString().c_str());
      continue;
    }
    FUZZ_CHECK(IsValidUtf8(*text), "Decode of id %d gave invalid UTF-8", id);
    all.push_back(id);
  }
  for (bool skip_special : {false, true}) {
    auto text = t.Decode(all, skip_special);
    if (absl::IsResourceExhausted(text.status())) continue;
    FUZZ_CHECK(text.ok(), "%s", text.status().ToString().c_str());
    FUZZ_CHECK(IsValidUtf8(*text), "Decode gave invalid UTF-8");
  }
}

void TestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view config = nul == std::string_view::npos ? "" : input.substr(nul + 1);
  auto t = Tokenizer::FromJson(input.substr(0, nul), config, "fuzz.json");
  if (!t.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(t.status()), "%s", t.status().ToString().c_str());
    return;
  }
  const int32_t id_end = (*t)->id_end();
  for (auto id : {(*t)->bos_id(), (*t)->eos_id()}) {
    FUZZ_CHECK(!id.has_value() || (*id >= 0 && *id < id_end), "bos/eos id %d", *id);
  }
  for (std::string_view text : kTexts) CheckEncodeDecode(**t, text);
  auto invalid = (*t)->Encode("ok \xC0\xAF", /*add_special_tokens=*/false);
  FUZZ_CHECK(absl::IsInvalidArgument(invalid.status()), "Encode accepted invalid UTF-8");
  CheckDecodeIds(**t);
}

}  // namespace
}  // namespace tessera::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::fuzz::TestOneInput(data, size);
  return 0;
}
