// The three Unicode classes the pre-tokenizer patterns use (\p{L}, \p{N}, \s), from utf8proc's
// general categories. Whitespace follows the Unicode White_Space property, which is what \s
// means in the Oniguruma regexes that Hugging Face tokenizers runs.
#ifndef TESSERA_TEXT_TOKENIZER_UNICODE_CLASS_H_
#define TESSERA_TEXT_TOKENIZER_UNICODE_CLASS_H_

#include <array>
#include <cstdint>

namespace tessera::tokenizer {

enum CharClass : uint8_t {
  kOther = 0,
  kLetter = 1,      // Lu Ll Lt Lm Lo
  kNumber = 2,      // Nd Nl No
  kWhitespace = 3,  // White_Space
};

// The class of any code point. The splitter asks for every code point of the text, so the Basic
// Multilingual Plane is tabulated from utf8proc once per process; other planes ask utf8proc.
// Immutable after construction, so thread-safe.
class CharClassifier {
 public:
  static const CharClassifier& Get();

  CharClass operator()(char32_t cp) const {
    return cp < bmp_.size() ? static_cast<CharClass>(bmp_[cp]) : Compute(cp);
  }

 private:
  CharClassifier();
  static CharClass Compute(char32_t cp);

  std::array<uint8_t, 0x10000> bmp_;
};

inline CharClass ClassOf(char32_t cp) { return CharClassifier::Get()(cp); }

inline bool IsNewline(char32_t cp) { return cp == U'\r' || cp == U'\n'; }

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_UNICODE_CLASS_H_
