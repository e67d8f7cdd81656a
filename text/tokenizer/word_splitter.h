// Splits text into the "words" that the BPE model encodes one at a time, implementing the
// pre-tokenizer regexes of GPT-2, Llama 3 and Qwen2/3 directly (no regex engine): each is a fixed
// alternation whose leftmost-first, backtracking semantics reduce to a few scans over Unicode
// classes. Only these exact patterns are recognised, as fast paths: any other Split pattern runs
// through Oniguruma (regex_split.h), and split_fast_path_test checks each fast path against it.
#ifndef TESSERA_TEXT_TOKENIZER_WORD_SPLITTER_H_
#define TESSERA_TEXT_TOKENIZER_WORD_SPLITTER_H_

#include <optional>
#include <string_view>
#include <vector>

namespace tessera::tokenizer {

enum class SplitPattern {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  // (the ByteLevel pre-tokenizer with use_regex true).
  kGpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  // \s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // The Llama 3 pattern with \p{N} in place of \p{N}{1,3}: digits are split one by one.
  kQwen2,
};

// The pattern whose regex source is exactly `regex`, or nullopt.
std::optional<SplitPattern> RecognizeSplitPattern(std::string_view regex);
// The regex source of `pattern`, as tokenizer.json spells it (for writing tokenizers).
std::string_view SplitPatternRegex(SplitPattern pattern);

// Appends the matches of `pattern` in `text` (valid UTF-8) to `out`, in order. The patterns
// match every code point, so the pieces concatenate back to `text` ("Isolated" behaviour).
void SplitWords(std::string_view text, SplitPattern pattern, std::vector<std::string_view>* out);

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_WORD_SPLITTER_H_
