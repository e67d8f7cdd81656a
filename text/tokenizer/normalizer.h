// The normalizers of tokenizer.json that tessera supports: NFC, Prepend, Replace with a plain
// string pattern, and Sequence of those. Anything else is refused at load time.
#ifndef TESSERA_TEXT_TOKENIZER_NORMALIZER_H_
#define TESSERA_TEXT_TOKENIZER_NORMALIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/json_fields.h"

namespace tessera::tokenizer {

class Normalizer {
 public:
  // `json` is the "normalizer" value (null means none).
  static absl::StatusOr<Normalizer> FromJson(const nlohmann::json& json, std::string_view source);

  bool empty() const { return steps_.empty(); }
  // `text` is valid UTF-8; so is the result.
  std::string Apply(std::string_view text) const;

 private:
  struct Step {
    enum Kind { kNfc, kPrepend, kReplace } kind;
    std::string pattern;  // kReplace
    std::string content;  // kPrepend, kReplace
  };
  absl::Status Add(const nlohmann::json& json, const JsonFields& f);

  std::vector<Step> steps_;
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_NORMALIZER_H_
