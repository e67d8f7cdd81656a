// Fuzzes Tokenizer::Encode and Decode with real vocabularies on arbitrary bytes. The first input
// byte picks the tokenizer (bits 2..7) and the flags (bits 0..1); the rest is the text to encode,
// and is also read as a list of token ids to decode. Checked on every input:
//  - Encode succeeds on valid UTF-8 and fails with InvalidArgument on anything else;
//  - every id it returns is a token, and add_special_tokens only wraps the plain ids;
//  - tokenizers that lose nothing give the text back: Decode(Encode(x)) == x (see RoundTrip);
//  - Decode of arbitrary ids succeeds exactly when every id is a token, and returns valid UTF-8.
//
// The tokenizers are the llama3, llama2 and qwen3 fixtures (unpacked into the build folder when
// ../shared/fixtures is there), two small hand-written ones from the json fuzzer's corpus, and
// one with GPT-4o's o200k Split pattern, which no fast path covers: its pre-tokenizer runs
// through Oniguruma, whose backtracking limits must never trip on real patterns.
// TESSERA_FUZZ_TOKENIZER=PATH (a tokenizer.json or its directory) fuzzes that tokenizer alone,
// with the round trip checked as TESSERA_FUZZ_ROUND_TRIP says (none, exact, nfc, sentencepiece).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "tests/fuzz/fuzz_check.h"
#include "text/tokenizer/tokenizer.h"
#include "utf8proc.h"

namespace tessera::fuzz {
namespace {

// When Decode(Encode(x)) must equal x.
enum class RoundTrip {
  kNone,
  kExact,  // byte-level BPE without a normalizer (llama3): for every valid x
  kNfc,    // byte-level BPE behind an NFC normalizer (qwen3): for x already in NFC
  // sentencepiece-style (llama2): spaces become U+2581 and back, and the decoder strips the
  // space it prepended. Holds for x without U+2581 and without '<' (the added tokens all start
  // with '<', and the text after one gets its own prepended U+2581).
  kSentencePiece,
};

struct FuzzTokenizer {
  std::string name;
  std::unique_ptr<Tokenizer> tokenizer;
  RoundTrip round_trip = RoundTrip::kNone;
  std::vector<bool> is_token;  // by id below id_end(): whether Decode accepts it
  size_t special_ids = 0;      // how many ids add_special_tokens adds
};

// libFuzzer's entry points take no context, so the tokenizers loaded once live here.
std::vector<FuzzTokenizer>* g_tokenizers = nullptr;

void AddTokenizer(const std::filesystem::path& path, std::string name, RoundTrip round_trip) {
  auto tokenizer = Tokenizer::Load(path);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "tokenizer_encode_fuzz: %s\n", tokenizer.status().ToString().c_str());
    std::exit(1);
  }
  FuzzTokenizer t;
  t.name = std::move(name);
  t.tokenizer = *std::move(tokenizer);
  t.round_trip = round_trip;
  const int32_t id_end = t.tokenizer->id_end();
  t.is_token.resize(id_end);
  for (int32_t id = 0; id < id_end; ++id) t.is_token[id] = t.tokenizer->Decode({id}, false).ok();
  auto special = t.tokenizer->Encode("", /*add_special_tokens=*/true);
  FUZZ_CHECK(special.ok(), "%s", special.status().ToString().c_str());
  t.special_ids = special->size();
  std::fprintf(stderr, "tokenizer_encode_fuzz: tokenizer %zu: %s (%d ids)\n", g_tokenizers->size(),
               t.name.c_str(), id_end);
  g_tokenizers->push_back(std::move(t));
}

RoundTrip RoundTripFromEnv() {
  const char* v = std::getenv("TESSERA_FUZZ_ROUND_TRIP");
  const std::string_view s = v == nullptr ? "none" : v;
  if (s == "none") return RoundTrip::kNone;
  if (s == "exact") return RoundTrip::kExact;
  if (s == "nfc") return RoundTrip::kNfc;
  if (s == "sentencepiece") return RoundTrip::kSentencePiece;
  std::fprintf(stderr, "TESSERA_FUZZ_ROUND_TRIP must be none, exact, nfc or sentencepiece\n");
  std::exit(1);
}

bool IsNfc(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  const bool same = n >= 0 && std::string_view(reinterpret_cast<const char*>(out), n) == text;
  std::free(out);
  return same;
}

bool RoundTrips(RoundTrip mode, std::string_view text) {
  switch (mode) {
    case RoundTrip::kNone:
      return false;
    case RoundTrip::kExact:
      return true;
    case RoundTrip::kNfc:
      return IsNfc(text);
    case RoundTrip::kSentencePiece:
      return text.find("\u2581") == std::string_view::npos &&
             text.find('<') == std::string_view::npos;
  }
  return false;
}

bool IsToken(const FuzzTokenizer& t, int32_t id) {
  return id >= 0 && static_cast<size_t>(id) < t.is_token.size() && t.is_token[id];
}

// Where a and b first differ, for the failure message.
size_t Mismatch(std::string_view a, std::string_view b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

void CheckEncode(const FuzzTokenizer& t, std::string_view text, bool add_special,
                 bool skip_special) {
  const char* name = t.name.c_str();
  auto plain = t.tokenizer->Encode(text, /*add_special_tokens=*/false);
  if (!IsValidUtf8(text)) {
    FUZZ_CHECK(absl::IsInvalidArgument(plain.status()), "%s: Encode of invalid UTF-8 gave %s", name,
               plain.ok() ? "ids" : plain.status().ToString().c_str());
    return;
  }
  FUZZ_CHECK(plain.ok(), "%s: %s", name, plain.status().ToString().c_str());
  for (int32_t id : *plain) FUZZ_CHECK(IsToken(t, id), "%s: Encode gave id %d", name, id);

  auto decoded = t.tokenizer->Decode(*plain, /*skip_special_tokens=*/false);
  FUZZ_CHECK(decoded.ok(), "%s: %s", name, decoded.status().ToString().c_str());
  FUZZ_CHECK(IsValidUtf8(*decoded), "%s: Decode gave invalid UTF-8", name);
  if (RoundTrips(t.round_trip, text)) {
    const size_t at = Mismatch(*decoded, text);
    FUZZ_CHECK(*decoded == text,
               "%s: Decode(Encode(x)) != x: %zu bytes back for %zu, first difference at byte %zu",
               name, decoded->size(), text.size(), at);
  }

  if (!add_special) return;
  auto special = t.tokenizer->Encode(text, /*add_special_tokens=*/true);
  FUZZ_CHECK(special.ok(), "%s: %s", name, special.status().ToString().c_str());
  FUZZ_CHECK(special->size() == plain->size() + t.special_ids &&
                 (plain->empty() || std::search(special->begin(), special->end(), plain->begin(),
                                                plain->end()) != special->end()),
             "%s: add_special_tokens changed more than the ends", name);
  auto decoded_special = t.tokenizer->Decode(*special, skip_special);
  FUZZ_CHECK(decoded_special.ok(), "%s: %s", name, decoded_special.status().ToString().c_str());
  FUZZ_CHECK(IsValidUtf8(*decoded_special), "%s: Decode gave invalid UTF-8", name);
}

// Three bytes per id, spread over [-32, id_end + 32) so that some fall outside the vocabulary;
// the largest values become the extremes of int32_t.
std::vector<int32_t> IdsFromBytes(std::string_view bytes, int32_t id_end) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = static_cast<unsigned char>(bytes[i]) |
                       static_cast<unsigned char>(bytes[i + 1]) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]) << 16;
    if (v >= 0xFFFFF0) {
      ids.push_back(v & 1 ? INT32_MIN : INT32_MAX);
    } else {
      ids.push_back(static_cast<int32_t>(v % (static_cast<uint32_t>(id_end) + 64)) - 32);
    }
  }
  return ids;
}

void CheckDecode(const FuzzTokenizer& t, const std::vector<int32_t>& ids, bool skip_special) {
  const bool all_tokens =
      std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return IsToken(t, id); });
  auto text = t.tokenizer->Decode(ids, skip_special);
  if (!all_tokens) {
    FUZZ_CHECK(absl::IsInvalidArgument(text.status()), "%s: Decode of a non-token gave %s",
               t.name.c_str(), text.ok() ? "text" : text.status().ToString().c_str());
    return;
  }
  FUZZ_CHECK(text.ok(), "%s: %s", t.name.c_str(), text.status().ToString().c_str());
  FUZZ_CHECK(IsValidUtf8(*text), "%s: Decode gave invalid UTF-8", t.name.c_str());
}

void Initialize() {
  namespace fs = std::filesystem;
  g_tokenizers = new std::vector<FuzzTokenizer>;
  if (const char* path = std::getenv("TESSERA_FUZZ_TOKENIZER")) {
    AddTokenizer(path, path, RoundTripFromEnv());
    return;
  }
  const fs::path fixtures = TESSERA_FUZZ_TOKENIZERS_DIR;
  for (auto [name, round_trip] :
       {std::pair{"llama3", RoundTrip::kExact}, std::pair{"llama2", RoundTrip::kSentencePiece},
        std::pair{"qwen3", RoundTrip::kNfc}}) {
    if (fs::exists(fixtures / name / "tokenizer.json")) {
      AddTokenizer(fixtures / name, name, round_trip);
    }
  }
  // Small vocabularies reach the paths that the real ones rarely do (unknown characters,
  // byte fallback for most text), and keep the fuzzer useful without the fixtures.
  const fs::path corpus = TESSERA_FUZZ_JSON_CORPUS_DIR;
  for (auto [file, round_trip] :
       {std::pair{"bytelevel_llama3.json", RoundTrip::kExact},
        std::pair{"sentencepiece_byte_fallback.json", RoundTrip::kSentencePiece},
        std::pair{"bytelevel_o200k.json", RoundTrip::kExact}}) {
    AddTokenizer(corpus / file, file, round_trip);
  }
}

void TestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const FuzzTokenizer& t = (*g_tokenizers)[(flags >> 2) % g_tokenizers->size()];
  const bool add_special = flags & 1, skip_special = flags & 2;
  CheckEncode(t, text, add_special, skip_special);
  CheckDecode(t, IdsFromBytes(text, t.tokenizer->id_end()), skip_special);
}

}  // namespace
}  // namespace tessera::fuzz

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  tessera::fuzz::Initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::fuzz::TestOneInput(data, size);
  return 0;
}
