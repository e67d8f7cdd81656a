#include "text/tokenizer/utf8.h"

#include <cstdint>
#include <cstring>

namespace tessera::tokenizer {
namespace {

bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Number of bytes of s (starting at the lead byte) that form a valid prefix of some sequence,
// and whether the sequence is complete. The ranges of the second byte follow the Unicode
// table of well-formed byte sequences (they exclude overlongs and surrogates).
struct Prefix {
  size_t valid;  // bytes that are a valid prefix (>= 1 when the lead byte is valid)
  size_t need;   // bytes of the complete sequence; 0 when the lead byte is invalid
};

Prefix CheckPrefix(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return {1, 1};
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {0, 0};
  }
  size_t valid = 1;
  for (size_t i = 1; i < need && i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    const bool ok = i == 1 ? (b >= lo && b <= hi) : IsContinuation(b);
    if (!ok) break;
    ++valid;
  }
  return {valid, need};
}

}  // namespace

size_t ValidSequenceLength(std::string_view s) {
  if (s.empty()) return 0;
  const Prefix p = CheckPrefix(s);
  return p.need != 0 && p.valid == p.need ? p.need : 0;
}

size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // Most text is mostly ASCII: skip it eight bytes at a time.
    if (i + sizeof(uint64_t) <= s.size()) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, sizeof(word));
      if ((word & 0x8080808080808080ull) == 0) {
        i += sizeof(word);
        continue;
      }
    }
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    // The usual two- and three-byte sequences (Latin, Cyrillic, CJK...): lead bytes whose second
    // byte may be any continuation byte. The rest takes the general path.
    const bool plain3 = (b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF;
    if (b0 >= 0xC2 && b0 <= 0xDF && i + 1 < s.size() &&
        IsContinuation(static_cast<unsigned char>(s[i + 1]))) {
      i += 2;
      continue;
    }
    if (plain3 && i + 2 < s.size() && IsContinuation(static_cast<unsigned char>(s[i + 1])) &&
        IsContinuation(static_cast<unsigned char>(s[i + 2]))) {
      i += 3;
      continue;
    }
    const size_t n = ValidSequenceLength(s.substr(i));
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string Utf8Lossy(std::string_view bytes) {
  if (FirstInvalidUtf8(bytes) == std::string_view::npos) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const Prefix p = CheckPrefix(bytes.substr(i));
    if (p.need != 0 && p.valid == p.need) {
      out.append(bytes.substr(i, p.need));
      i += p.need;
    } else {
      // One replacement character per maximal invalid subpart: a valid but truncated prefix
      // counts as one subpart, a byte that cannot start any sequence as its own.
      out.append("\xEF\xBF\xBD");
      i += p.valid == 0 ? 1 : p.valid;
    }
  }
  return out;
}

}  // namespace tessera::tokenizer
