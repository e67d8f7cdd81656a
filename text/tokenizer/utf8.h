// UTF-8 helpers for the tokenizer: strict validation of input, code point iteration over text
// already known to be valid, and the lossy conversion that decoding uses for byte sequences.
#ifndef TESSERA_TEXT_TOKENIZER_UTF8_H_
#define TESSERA_TEXT_TOKENIZER_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace tessera::tokenizer {

// Length in bytes of the longest valid UTF-8 prefix of `s` that is a whole sequence starting at
// s[0]; 0 when s[0] does not start a valid sequence (overlong forms, surrogates and code points
// above U+10FFFF are invalid, as in Rust's str).
size_t ValidSequenceLength(std::string_view s);

// Offset of the first byte that is not part of valid UTF-8, or npos when `s` is valid.
size_t FirstInvalidUtf8(std::string_view s);

// Byte length of the UTF-8 sequence whose lead byte is `lead` (valid text only).
inline size_t SequenceLength(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Decodes the code point at s[*pos] and advances *pos. `s` must be valid UTF-8. Inline: the
// splitter calls it for every non-ASCII character.
inline char32_t NextCodePoint(std::string_view s, size_t* pos) {
  const auto b0 = static_cast<unsigned char>(s[*pos]);
  const size_t n = SequenceLength(b0);
  char32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[*pos + i]) & 0x3F);
  *pos += n;
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out);

// `bytes` with each maximal invalid subpart replaced by U+FFFD, the same replacement that
// Rust's String::from_utf8_lossy makes, so decoded text matches Hugging Face tokenizers.
std::string Utf8Lossy(std::string_view bytes);

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_UTF8_H_
