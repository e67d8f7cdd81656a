#include "engine/tokenizer/unicode_class.h"

#include <array>

#include "utf8proc.h"

namespace tessera::tokenizer {
namespace {

CharClass ComputeClass(char32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) return kWhitespace;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return kNumber;
    // White_Space is exactly the controls above plus the separators Zs, Zl and Zp.
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return kWhitespace;
    default:
      return kOther;
  }
}

// The Basic Multilingual Plane is tabulated once: the splitter asks for every code point.
const std::array<uint8_t, 0x10000>& BmpTable() {
  static const auto* table = [] {
    auto* t = new std::array<uint8_t, 0x10000>;
    for (char32_t cp = 0; cp < 0x10000; ++cp) (*t)[cp] = ComputeClass(cp);
    return t;
  }();
  return *table;
}

}  // namespace

CharClass ClassOf(char32_t cp) {
  if (cp < 0x10000) return static_cast<CharClass>(BmpTable()[cp]);
  return ComputeClass(cp);
}

}  // namespace tessera::tokenizer
