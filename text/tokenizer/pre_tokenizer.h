// The pre-tokenizers of tokenizer.json that tessera supports: Split with one of the recognised
// regexes (behaviour Isolated), ByteLevel, and Sequence of those.
#ifndef TESSERA_TEXT_TOKENIZER_PRE_TOKENIZER_H_
#define TESSERA_TEXT_TOKENIZER_PRE_TOKENIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/json_fields.h"
#include "text/tokenizer/word_list.h"
#include "text/tokenizer/word_splitter.h"

namespace tessera::tokenizer {

class PreTokenizer {
 public:
  // `json` is the "pre_tokenizer" value (null means none: the whole text is one word).
  static absl::StatusOr<PreTokenizer> FromJson(const nlohmann::json& json, std::string_view source);

  // Replaces `words` with the non-empty words of `text` (valid UTF-8); after ByteLevel they are
  // spelled in byte-level characters, like the vocabulary.
  void Apply(std::string_view text, WordList* words) const;
  // The same, appending copies of the words to `words`.
  void Apply(std::string_view text, std::vector<std::string>* words) const;

 private:
  struct Step {
    enum Kind { kSplit, kByteLevel } kind;
    SplitPattern pattern = SplitPattern::kGpt2;  // kSplit, and kByteLevel when use_regex
    bool use_regex = false;                      // kByteLevel
    bool add_prefix_space = false;               // kByteLevel
  };
  absl::Status Add(const nlohmann::json& json, const JsonFields& parent);
  // Replaces `out` with the ByteLevel step's spelling of the words `in`.
  static void SpellWords(const Step& step, absl::Span<const std::string_view> in, WordList* out);

  std::vector<Step> steps_;
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_PRE_TOKENIZER_H_
