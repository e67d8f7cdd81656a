#include "engine/tokenizer/byte_level.h"

#include <array>

#include "engine/tokenizer/utf8.h"

namespace tessera::tokenizer {
namespace {

// Bytes that are printable Latin-1 characters keep their code point; the other 68 are given
// U+0100, U+0101, ... in byte order. Both directions are tabulated once.
struct Tables {
  std::array<std::string, 256> chars;  // UTF-8 spelling of each byte
  std::array<int, 512> byte_of;        // code points < 512 -> byte, or -1
};

const Tables& GetTables() {
  static const Tables* tables = [] {
    auto* t = new Tables;
    t->byte_of.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      AppendUtf8(cp, &t->chars[b]);
      t->byte_of[cp] = b;
    }
    return t;
  }();
  return *tables;
}

}  // namespace

void AppendByteLevelChars(std::string_view bytes, std::string* out) {
  const Tables& t = GetTables();
  for (char c : bytes) out->append(t.chars[static_cast<unsigned char>(c)]);
}

int ByteOfByteLevelChar(char32_t cp) { return cp < 512 ? GetTables().byte_of[cp] : -1; }

}  // namespace tessera::tokenizer
