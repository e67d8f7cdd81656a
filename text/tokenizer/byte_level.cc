#include "text/tokenizer/byte_level.h"

#include <array>
#include <cstdint>
#include <string>

#include "text/tokenizer/utf8.h"

namespace tessera::tokenizer {
namespace {

// Bytes that are printable Latin-1 characters keep their code point; the other 68 are given
// U+0100, U+0101, ... in byte order. Both directions are tabulated once. All the characters are
// below U+0800, so each is spelled in at most two bytes of UTF-8.
struct Spelling {
  char bytes[2];
  uint8_t size;
};
struct Tables {
  std::array<Spelling, 256> chars;  // UTF-8 spelling of each byte
  std::array<int, 512> byte_of;     // code points < 512 -> byte, or -1
};

const Tables& GetTables() {
  static const Tables* tables = [] {
    auto* t = new Tables{};
    t->byte_of.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      std::string utf8;
      AppendUtf8(cp, &utf8);
      Spelling& s = t->chars[b];
      s.size = static_cast<uint8_t>(utf8.size());
      for (size_t i = 0; i < utf8.size(); ++i) s.bytes[i] = utf8[i];
      t->byte_of[cp] = b;
    }
    return t;
  }();
  return *tables;
}

}  // namespace

char* WriteByteLevelChars(std::string_view bytes, char* out) {
  const Tables& t = GetTables();
  for (char c : bytes) {
    const Spelling& s = t.chars[static_cast<unsigned char>(c)];
    out[0] = s.bytes[0];
    out[1] = s.bytes[1];
    out += s.size;
  }
  return out;
}

void AppendByteLevelChars(std::string_view bytes, std::string* out) {
  const size_t start = out->size();
  out->resize(start + 2 * bytes.size());
  char* end = WriteByteLevelChars(bytes, out->data() + start);
  out->resize(static_cast<size_t>(end - out->data()));
}

int ByteOfByteLevelChar(char32_t cp) { return cp < 512 ? GetTables().byte_of[cp] : -1; }

}  // namespace tessera::tokenizer
