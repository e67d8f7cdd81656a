// The "pattern" field that Split pre-tokenizers and Replace normalizers and decoders share in
// tokenizer.json: {"String": "..."} (a literal) or {"Regex": "..."} (an Oniguruma regex).
// Include only from .cc files (nlohmann_json is private to the tokenizer library).
#ifndef TESSERA_TEXT_TOKENIZER_PATTERN_JSON_H_
#define TESSERA_TEXT_TOKENIZER_PATTERN_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/json_fields.h"

namespace tessera::tokenizer {

struct PatternJson {
  enum Kind { kString, kRegex } kind;
  std::string text;  // the literal or the regex source
};

// The "pattern" field of the component that `f` reads; errors name `component` (e.g.
// "normalizer Replace").
absl::StatusOr<PatternJson> ParsePatternJson(const JsonFields& f, std::string_view component);

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_PATTERN_JSON_H_
