// The decoders of tokenizer.json that tessera supports: ByteLevel (byte-level BPE) and the pieces
// of the sentencepiece-style chain (Replace with a String or Regex pattern, ByteFallback, Fuse,
// Strip) inside a Sequence. Immutable after FromJson; Decode may be called from any thread.
#ifndef TESSERA_TEXT_TOKENIZER_DECODER_H_
#define TESSERA_TEXT_TOKENIZER_DECODER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/json_fields.h"
#include "text/tokenizer/regex_pattern.h"

namespace tessera::tokenizer {

class Decoder {
 public:
  // `json` is the "decoder" value (null means none: tokens are joined with spaces).
  static absl::StatusOr<Decoder> FromJson(const nlohmann::json& json, std::string_view source);

  // The text of `tokens` (vocabulary spellings), always valid UTF-8. Fails (ResourceExhausted)
  // only when a Regex pattern hits its backtracking limit.
  absl::StatusOr<std::string> Decode(std::vector<std::string> tokens) const;

  // True when `token` is a byte ("<0xE6>") that a ByteFallback step merges with the bytes
  // around it, so that its text depends on the tokens after it.
  bool IsFallbackByte(std::string_view token) const;

 private:
  struct Step {
    enum Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip } kind;
    std::string pattern;  // kReplace with a String pattern
    std::string content;  // kReplace; kStrip: the character to strip
    int start = 0;        // kStrip: at most this many leading `content`
    int stop = 0;         // kStrip: at most this many trailing `content`
    std::shared_ptr<const RegexPattern> regex = nullptr;  // kReplace with a Regex pattern
  };
  absl::Status Add(const nlohmann::json& json, const JsonFields& parent);

  bool none_ = true;
  std::vector<Step> steps_;
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_DECODER_H_
