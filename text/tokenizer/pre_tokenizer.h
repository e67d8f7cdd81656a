// The pre-tokenizers of tokenizer.json that tessera supports: Split (any Regex or String pattern,
// any behavior, invert), ByteLevel, and Sequence of those. A Split with one of the three patterns
// that word_splitter.h hand-codes (behavior Isolated, no invert) takes that fast path; every
// other Split runs through Oniguruma (regex_split.h), as in Hugging Face tokenizers.
//
// Immutable after FromJson; Apply may be called from any number of threads at once.
#ifndef TESSERA_TEXT_TOKENIZER_PRE_TOKENIZER_H_
#define TESSERA_TEXT_TOKENIZER_PRE_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/json_fields.h"
#include "text/tokenizer/regex_split.h"
#include "text/tokenizer/word_list.h"
#include "text/tokenizer/word_splitter.h"

namespace tessera::tokenizer {

class PreTokenizer {
 public:
  // `json` is the "pre_tokenizer" value (null means none: the whole text is one word).
  static absl::StatusOr<PreTokenizer> FromJson(const nlohmann::json& json, std::string_view source);

  // Replaces `words` with the non-empty words of `text` (valid UTF-8); after ByteLevel they are
  // spelled in byte-level characters, like the vocabulary. Fails (ResourceExhausted) only when
  // a Oniguruma pattern hits its backtracking limit on `text`.
  absl::Status Apply(std::string_view text, WordList* words) const;
  // The same, appending copies of the words to `words`.
  absl::Status Apply(std::string_view text, std::vector<std::string>* words) const;

 private:
  struct Step {
    enum Kind { kSplit, kRegexSplit, kByteLevel } kind;
    SplitPattern pattern = SplitPattern::kGpt2;            // kSplit, and kByteLevel when use_regex
    bool use_regex = false;                                // kByteLevel
    bool add_prefix_space = false;                         // kByteLevel
    std::shared_ptr<const RegexSplitter> regex = nullptr;  // kRegexSplit
  };
  absl::Status AddSplit(const JsonFields& f);
  absl::Status Add(const nlohmann::json& json, const JsonFields& parent);
  // Replaces `out` with the ByteLevel step's spelling of the words `in`.
  static void SpellWords(const Step& step, absl::Span<const std::string_view> in, WordList* out);

  std::vector<Step> steps_;
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_PRE_TOKENIZER_H_
