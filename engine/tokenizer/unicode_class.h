// The three Unicode classes the pre-tokenizer patterns use (\p{L}, \p{N}, \s), from utf8proc's
// general categories. Whitespace follows the Unicode White_Space property, which is what \s
// means in the Oniguruma regexes that Hugging Face tokenizers runs.
#ifndef TESSERA_ENGINE_TOKENIZER_UNICODE_CLASS_H_
#define TESSERA_ENGINE_TOKENIZER_UNICODE_CLASS_H_

#include <cstdint>

namespace tessera::tokenizer {

enum CharClass : uint8_t {
  kOther = 0,
  kLetter = 1,      // Lu Ll Lt Lm Lo
  kNumber = 2,      // Nd Nl No
  kWhitespace = 3,  // White_Space
};

CharClass ClassOf(char32_t cp);

inline bool IsNewline(char32_t cp) { return cp == U'\r' || cp == U'\n'; }

}  // namespace tessera::tokenizer

#endif  // TESSERA_ENGINE_TOKENIZER_UNICODE_CLASS_H_
