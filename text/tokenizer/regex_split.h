// Split by any regex: Hugging Face's Split pre-tokenizer (pattern, behavior, invert) run through
// Oniguruma (RegexPattern). The hand-coded splitters of word_splitter.h are fast paths for
// three patterns with behavior Isolated; this is the general path, which the fast paths are
// tested against.
//
// Immutable after construction; Split may be called from any number of threads at once.
#ifndef TESSERA_TEXT_TOKENIZER_REGEX_SPLIT_H_
#define TESSERA_TEXT_TOKENIZER_REGEX_SPLIT_H_

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "text/tokenizer/regex_pattern.h"

namespace tessera::tokenizer {

// What happens to the matches (the "delimiters"), as in Hugging Face's SplitDelimiterBehavior.
enum class SplitBehavior {
  kRemoved,             // dropped
  kIsolated,            // a piece of their own
  kMergedWithPrevious,  // appended to the piece before
  kMergedWithNext,      // prepended to the piece after
  kContiguous,          // consecutive matches form one piece, as do consecutive non-matches
};

// The behavior spelled as tokenizer.json spells it ("Isolated"), or nullopt.
std::optional<SplitBehavior> ParseSplitBehavior(std::string_view name);

// A piece of the text: bytes [begin, end), and whether it is a match of the pattern (after
// `invert`, which swaps matches and the text between them).
struct SplitPiece {
  size_t begin;
  size_t end;
  bool is_match;
};

// The pieces of a text of `text_size` bytes whose matches are `matches` (as RegexPattern::FindAll
// gives them), laid out with the text between them and then combined as `behavior` says. Empty
// pieces are left out; so are the matches that kRemoved removes.
std::vector<SplitPiece> SplitPieces(size_t text_size, const std::vector<RegexMatch>& matches,
                                    SplitBehavior behavior, bool invert);

class RegexSplitter {
 public:
  RegexSplitter(std::shared_ptr<const RegexPattern> pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

  const RegexPattern& pattern() const { return *pattern_; }

  // Appends the non-empty pieces of `text` (valid UTF-8) to `out`, in order.
  // ResourceExhausted when the pattern hits a backtracking limit on `text`.
  absl::Status Split(std::string_view text, std::vector<std::string_view>* out) const;

 private:
  std::shared_ptr<const RegexPattern> pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_REGEX_SPLIT_H_
