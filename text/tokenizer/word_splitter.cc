#include "text/tokenizer/word_splitter.h"

#include <cstddef>
#include <string>

#include "text/tokenizer/unicode_class.h"
#include "text/tokenizer/utf8.h"

namespace tessera::tokenizer {
namespace {

constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The text read one code point at a time by byte offset; the matchers below look ahead by
// decoding again, which for ASCII is one table lookup, instead of decoding the whole text into
// arrays first.
struct Char {
  char32_t cp;
  CharClass cls;
  size_t next;  // byte offset of the next code point
};

class Text {
 public:
  explicit Text(std::string_view s) : s_(s), classes_(CharClassifier::Get()) {}

  size_t size() const { return s_.size(); }
  unsigned char byte(size_t pos) const { return static_cast<unsigned char>(s_[pos]); }

  Char At(size_t pos) const {
    if (byte(pos) < 0x80) return {byte(pos), classes_(byte(pos)), pos + 1};
    size_t next = pos;
    const char32_t cp = NextCodePoint(s_, &next);
    return {cp, classes_(cp), next};
  }

  CharClass AsciiClass(unsigned char b) const { return classes_(b); }

  // The start of the code point that ends at `pos` (> 0).
  size_t Previous(size_t pos) const {
    do {
      --pos;
    } while (pos > 0 && (byte(pos) & 0xC0) == 0x80);
    return pos;
  }

  // Newlines are ASCII, and UTF-8 never has ASCII bytes inside a longer sequence, so bytes can
  // be tested for them directly.
  bool IsNewlineAt(size_t pos) const { return byte(pos) == '\r' || byte(pos) == '\n'; }

 private:
  std::string_view s_;
  const CharClassifier& classes_;
};

// Case folding as Oniguruma applies it under (?i) for the letters of the contractions; U+017F
// (long s) folds to 's'.
char32_t FoldContractionLetter(char32_t c, bool case_insensitive) {
  if (!case_insensitive) return c;
  if (c >= U'A' && c <= U'Z') return c + (U'a' - U'A');
  if (c == 0x017F) return U's';
  return c;
}

// 's|'t|'re|'ve|'m|'ll|'d at i: the end of the match, or 0.
size_t MatchContraction(const Text& t, size_t i, bool case_insensitive) {
  if (t.byte(i) != '\'' || i + 1 >= t.size()) return 0;
  const Char c1 = t.At(i + 1);
  const char32_t f1 = FoldContractionLetter(c1.cp, case_insensitive);
  if (f1 == U's' || f1 == U't' || f1 == U'm' || f1 == U'd') return c1.next;
  if (c1.next >= t.size()) return 0;
  const Char c2 = t.At(c1.next);
  const char32_t f2 = FoldContractionLetter(c2.cp, case_insensitive);
  if ((f1 == U'r' && f2 == U'e') || (f1 == U'v' && f2 == U'e') || (f1 == U'l' && f2 == U'l')) {
    return c2.next;
  }
  return 0;
}

// The end of the run of at most `max_len` code points of class `c` that starts at `i`.
size_t RunOf(const Text& t, size_t i, CharClass c, size_t max_len) {
  for (size_t n = 0; i < t.size() && n < max_len; ++n) {
    const Char ch = t.At(i);
    if (ch.cls != c) break;
    i = ch.next;
  }
  return i;
}

// RunOf without a length limit, with a tight loop over ASCII (most runs are ASCII words).
size_t RunOf(const Text& t, size_t i, CharClass c) {
  while (i < t.size()) {
    if (t.byte(i) < 0x80) {
      if (t.AsciiClass(t.byte(i)) != c) break;
      ++i;
      continue;
    }
    const Char ch = t.At(i);
    if (ch.cls != c) break;
    i = ch.next;
  }
  return i;
}

// \s+(?!\S)|\s+ at a whitespace code point i: a run followed by more text gives back its last
// code point (which then starts the next word, e.g. " world"), unless that leaves nothing.
size_t MatchTrailingWhitespace(const Text& t, size_t i) {
  const size_t j = RunOf(t, i, kWhitespace);
  if (j == t.size()) return j;
  const size_t last = t.Previous(j);
  return last == i ? j : last;
}

size_t MatchGpt2(const Text& t, size_t i) {
  if (size_t e = MatchContraction(t, i, /*case_insensitive=*/false)) return e;
  // ` ?\p{L}+`, ` ?\p{N}+` and ` ?[^\s\p{L}\p{N}]+` share one shape.
  const Char c0 = t.At(i);
  size_t start = i;
  CharClass cls = c0.cls;
  if (c0.cp == U' ' && c0.next < t.size()) {
    const Char c1 = t.At(c0.next);
    if (c1.cls != kWhitespace) {
      start = c0.next;
      cls = c1.cls;
    }
  }
  if (cls != kWhitespace) return RunOf(t, start, cls);
  return MatchTrailingWhitespace(t, i);
}

size_t MatchLlama3(const Text& t, size_t i, size_t max_digits) {
  const size_t n = t.size();
  if (size_t e = MatchContraction(t, i, /*case_insensitive=*/true)) return e;
  const Char c0 = t.At(i);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c0.cls == kLetter) return RunOf(t, c0.next, kLetter);
  if (c0.cls != kNumber && !IsNewline(c0.cp) && c0.next < n) {
    const Char c1 = t.At(c0.next);
    if (c1.cls == kLetter) return RunOf(t, c1.next, kLetter);
  }
  // \p{N}{1,3} or \p{N}
  if (c0.cls == kNumber) return RunOf(t, i, kNumber, max_digits);
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  size_t j = i;
  CharClass cls = c0.cls;
  if (c0.cp == U' ' && c0.next < n && t.At(c0.next).cls == kOther) {
    j = c0.next;
    cls = kOther;
  }
  if (cls == kOther) {
    j = RunOf(t, j, kOther);
    while (j < n && t.IsNewlineAt(j)) ++j;
    return j;
  }
  // Only whitespace is left. `\s*[\r\n]+` backtracks to the last newline of the run.
  const size_t run_end = RunOf(t, i, kWhitespace);
  for (size_t k = run_end; k > i; --k) {
    if (t.IsNewlineAt(k - 1)) return k;
  }
  return MatchTrailingWhitespace(t, i);
}

}  // namespace

std::optional<SplitPattern> RecognizeSplitPattern(std::string_view regex) {
  if (regex == kGpt2Regex) return SplitPattern::kGpt2;
  if (regex == kLlama3Regex) return SplitPattern::kLlama3;
  if (regex == kQwen2Regex) return SplitPattern::kQwen2;
  return std::nullopt;
}

std::string_view SplitPatternRegex(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2:
      return kGpt2Regex;
    case SplitPattern::kLlama3:
      return kLlama3Regex;
    case SplitPattern::kQwen2:
    default:
      return kQwen2Regex;
  }
}

void SplitWords(std::string_view text, SplitPattern pattern, std::vector<std::string_view>* out) {
  const Text t(text);
  size_t i = 0;
  while (i < t.size()) {
    size_t end;
    switch (pattern) {
      case SplitPattern::kGpt2:
        end = MatchGpt2(t, i);
        break;
      case SplitPattern::kLlama3:
        end = MatchLlama3(t, i, 3);
        break;
      case SplitPattern::kQwen2:
      default:
        end = MatchLlama3(t, i, 1);
        break;
    }
    out->push_back(text.substr(i, end - i));
    i = end;
  }
}

}  // namespace tessera::tokenizer
