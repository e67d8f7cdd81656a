#include "engine/tokenizer/word_splitter.h"

#include <cstddef>
#include <string>

#include "engine/tokenizer/unicode_class.h"
#include "engine/tokenizer/utf8.h"

namespace tessera::tokenizer {
namespace {

constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The text decoded once into code points, their classes and byte offsets, so that the matchers
// below can look ahead and back by code point.
struct Decoded {
  std::vector<char32_t> cp;
  std::vector<CharClass> cls;
  std::vector<size_t> offset;  // size() + 1 entries: the last is the text length
  size_t size() const { return cp.size(); }
};

Decoded Decode(std::string_view text) {
  Decoded d;
  d.cp.reserve(text.size());
  d.cls.reserve(text.size());
  d.offset.reserve(text.size() + 1);
  size_t pos = 0;
  while (pos < text.size()) {
    d.offset.push_back(pos);
    const char32_t c = NextCodePoint(text, &pos);
    d.cp.push_back(c);
    d.cls.push_back(ClassOf(c));
  }
  d.offset.push_back(text.size());
  return d;
}

// Case folding as Oniguruma applies it under (?i) for the letters of the contractions; U+017F
// (long s) folds to 's'.
char32_t FoldContractionLetter(char32_t c, bool case_insensitive) {
  if (!case_insensitive) return c;
  if (c >= U'A' && c <= U'Z') return c + (U'a' - U'A');
  if (c == 0x017F) return U's';
  return c;
}

// 's|'t|'re|'ve|'m|'ll|'d at i: the end of the match, or 0.
size_t MatchContraction(const Decoded& d, size_t i, bool case_insensitive) {
  if (d.cp[i] != U'\'' || i + 1 >= d.size()) return 0;
  const char32_t c1 = FoldContractionLetter(d.cp[i + 1], case_insensitive);
  if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') return i + 2;
  if (i + 2 >= d.size()) return 0;
  const char32_t c2 = FoldContractionLetter(d.cp[i + 2], case_insensitive);
  if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') || (c1 == U'l' && c2 == U'l')) {
    return i + 3;
  }
  return 0;
}

size_t RunOf(const Decoded& d, size_t i, CharClass c, size_t max_len = SIZE_MAX) {
  size_t j = i;
  while (j < d.size() && d.cls[j] == c && j - i < max_len) ++j;
  return j;
}

// \s+(?!\S)|\s+ at a whitespace code point i: a run followed by more text gives back its last
// code point (which then starts the next word, e.g. " world"), unless that leaves nothing.
size_t MatchTrailingWhitespace(const Decoded& d, size_t i) {
  const size_t j = RunOf(d, i, kWhitespace);
  if (j == d.size() || j - i == 1) return j;
  return j - 1;
}

size_t MatchGpt2(const Decoded& d, size_t i) {
  if (size_t e = MatchContraction(d, i, /*case_insensitive=*/false)) return e;
  // ` ?\p{L}+`, ` ?\p{N}+` and ` ?[^\s\p{L}\p{N}]+` share one shape.
  const bool space = d.cp[i] == U' ' && i + 1 < d.size() && d.cls[i + 1] != kWhitespace;
  const size_t start = space ? i + 1 : i;
  if (d.cls[start] != kWhitespace) return RunOf(d, start, d.cls[start]);
  return MatchTrailingWhitespace(d, i);
}

size_t MatchLlama3(const Decoded& d, size_t i, size_t max_digits) {
  const size_t n = d.size();
  if (size_t e = MatchContraction(d, i, /*case_insensitive=*/true)) return e;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (d.cls[i] == kLetter) return RunOf(d, i, kLetter);
  if (d.cls[i] != kNumber && !IsNewline(d.cp[i]) && i + 1 < n && d.cls[i + 1] == kLetter) {
    return RunOf(d, i + 1, kLetter);
  }
  // \p{N}{1,3} or \p{N}
  if (d.cls[i] == kNumber) return RunOf(d, i, kNumber, max_digits);
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  size_t j = i;
  if (d.cp[i] == U' ' && i + 1 < n && d.cls[i + 1] == kOther) j = i + 1;
  if (d.cls[j] == kOther) {
    j = RunOf(d, j, kOther);
    while (j < n && IsNewline(d.cp[j])) ++j;
    return j;
  }
  // Only whitespace is left. `\s*[\r\n]+` backtracks to the last newline of the run.
  const size_t run_end = RunOf(d, i, kWhitespace);
  for (size_t k = run_end; k > i; --k) {
    if (IsNewline(d.cp[k - 1])) return k;
  }
  return MatchTrailingWhitespace(d, i);
}

}  // namespace

std::optional<SplitPattern> RecognizeSplitPattern(std::string_view regex) {
  if (regex == kGpt2Regex) return SplitPattern::kGpt2;
  if (regex == kLlama3Regex) return SplitPattern::kLlama3;
  if (regex == kQwen2Regex) return SplitPattern::kQwen2;
  return std::nullopt;
}

void SplitWords(std::string_view text, SplitPattern pattern, std::vector<std::string_view>* out) {
  const Decoded d = Decode(text);
  size_t i = 0;
  while (i < d.size()) {
    size_t end;
    switch (pattern) {
      case SplitPattern::kGpt2:
        end = MatchGpt2(d, i);
        break;
      case SplitPattern::kLlama3:
        end = MatchLlama3(d, i, 3);
        break;
      case SplitPattern::kQwen2:
      default:
        end = MatchLlama3(d, i, 1);
        break;
    }
    out->push_back(text.substr(d.offset[i], d.offset[end] - d.offset[i]));
    i = end;
  }
}

}  // namespace tessera::tokenizer
