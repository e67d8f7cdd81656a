// GPT-2's reversible byte <-> character map: byte-level BPE vocabularies spell every byte as a
// printable character, so that a vocabulary of strings can cover arbitrary bytes.
#ifndef TESSERA_TEXT_TOKENIZER_BYTE_LEVEL_H_
#define TESSERA_TEXT_TOKENIZER_BYTE_LEVEL_H_

#include <string>
#include <string_view>

namespace tessera::tokenizer {

// Appends the characters (UTF-8) that spell each byte of `bytes`.
void AppendByteLevelChars(std::string_view bytes, std::string* out);
// The same written at `out`, which has room for 2 * bytes.size() (each character takes one or two
// bytes); returns the end of what was written.
char* WriteByteLevelChars(std::string_view bytes, char* out);

// The byte that `cp` spells, or -1 when `cp` is not one of the 256 characters.
int ByteOfByteLevelChar(char32_t cp);

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_BYTE_LEVEL_H_
