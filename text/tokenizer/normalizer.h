// The normalizers of tokenizer.json that tessera supports: NFC, Prepend, Replace (a String
// pattern, or a Regex one run through Oniguruma), and Sequence of those. Anything else is
// refused at load time. Immutable after FromJson; Apply may be called from any thread.
#ifndef TESSERA_TEXT_TOKENIZER_NORMALIZER_H_
#define TESSERA_TEXT_TOKENIZER_NORMALIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/json_fields.h"
#include "text/tokenizer/regex_pattern.h"

namespace tessera::tokenizer {

class Normalizer {
 public:
  // `json` is the "normalizer" value (null means none).
  static absl::StatusOr<Normalizer> FromJson(const nlohmann::json& json, std::string_view source);

  bool empty() const { return steps_.empty(); }
  // `text` is valid UTF-8; so is the result. Fails (ResourceExhausted) only when a Regex
  // pattern hits its backtracking limit on `text`.
  absl::StatusOr<std::string> Apply(std::string_view text) const;

 private:
  struct Step {
    enum Kind { kNfc, kPrepend, kReplace } kind;
    std::string pattern;                                  // kReplace with a String pattern
    std::string content;                                  // kPrepend, kReplace
    std::shared_ptr<const RegexPattern> regex = nullptr;  // kReplace with a Regex pattern
  };
  absl::Status Add(const nlohmann::json& json, const JsonFields& f);

  std::vector<Step> steps_;
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_NORMALIZER_H_
