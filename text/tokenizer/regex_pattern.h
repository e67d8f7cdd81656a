// A tokenizer.json regex ("pattern": {"Regex": ...} of Split, Replace), compiled by Oniguruma
// with the options Hugging Face tokenizers uses (UTF-8, Oniguruma's default syntax, no flags),
// so that any pattern a real tokenizer ships means here what it means there.
//
// Matching is bounded: Oniguruma is a backtracking engine, and a badly written pattern can take
// exponential time on a crafted text. Each match attempt may backtrack at most
// kRetryLimitInMatch times and each search (which ends at the next match) at most
// kRetryLimitInSearch times; past that, FindAll fails with ResourceExhausted instead of running
// on. The bound is per search, not per text: real patterns need a few retries per byte, but a
// pathological one could spend up to a search's budget on each piece of a text.
//
// Unicode tables are Oniguruma's own: Debian 12's 6.9.8 does not know the characters Unicode 15.0
// added (e.g. CJK Extension H, U+31350..U+323AF), which the Oniguruma inside Hugging Face
// tokenizers 0.23 does, so \p{L} and friends do not match those here (the fast paths, on
// utf8proc's Unicode 15 tables, agree with Hugging Face).
//
// Immutable after Compile; FindAll may be called from any number of threads at once (Oniguruma
// keeps its match state per call). Compile and destruction are serialized process-wide, as
// Oniguruma asks.
#ifndef TESSERA_TEXT_TOKENIZER_REGEX_PATTERN_H_
#define TESSERA_TEXT_TOKENIZER_REGEX_PATTERN_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera::tokenizer {

// A match: bytes [begin, end) of the text searched.
struct RegexMatch {
  size_t begin;
  size_t end;
  bool operator==(const RegexMatch&) const = default;
};

class RegexPattern {
 public:
  // Backtracking limits (Oniguruma's retry counters). Per match attempt: Oniguruma's default,
  // which Hugging Face tokenizers runs with, so no text it encodes is refused here for that; a
  // real pattern backtracks about once per character of the run it matches, so runs of up to
  // ten million characters pass. Per search (Hugging Face sets none): about 12 retries per byte
  // of the daemon's largest request (4 MiB), for patterns that fail with some backtracking at
  // every position of a long text. A catastrophic pattern hits one or the other within about
  // two seconds (measured here: about 30 million retries a second).
  static constexpr unsigned long kRetryLimitInMatch = 10'000'000;
  static constexpr unsigned long kRetryLimitInSearch = 50'000'000;

  // InvalidArgument naming `pattern` and Oniguruma's message when it does not compile.
  static absl::StatusOr<std::unique_ptr<RegexPattern>> Compile(std::string_view pattern);
  // The pattern that matches `literal` and nothing else (what Hugging Face builds for a
  // {"String": ...} pattern).
  static std::string Escape(std::string_view literal);

  ~RegexPattern();
  RegexPattern(const RegexPattern&) = delete;
  RegexPattern& operator=(const RegexPattern&) = delete;

  const std::string& source() const { return source_; }

  // Appends the successive non-overlapping matches in `text` (valid UTF-8) to `out`, leftmost
  // first, as Hugging Face's find_iter yields them: each search starts where the last match
  // ended (lookbehind sees the text before it), and an empty match right where the previous one
  // ended is skipped by moving on one character. Empty text has no matches. ResourceExhausted
  // when a backtracking limit is hit (naming the pattern), with `out` holding what was found;
  // InvalidArgument when `text` is not valid UTF-8.
  absl::Status FindAll(std::string_view text, std::vector<RegexMatch>* out) const;

  // `text` with every match (empty ones included) replaced by `content`, taken literally, as
  // Hugging Face's Replace normalizer and decoder do. Errors as FindAll.
  absl::StatusOr<std::string> ReplaceAll(std::string_view text, std::string_view content) const;

 private:
  struct Compiled;
  RegexPattern(std::string source, std::unique_ptr<Compiled> compiled);

  std::string source_;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_REGEX_PATTERN_H_
