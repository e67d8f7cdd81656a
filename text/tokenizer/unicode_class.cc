#include "text/tokenizer/unicode_class.h"

#include "utf8proc.h"

namespace tessera::tokenizer {

CharClass CharClassifier::Compute(char32_t cp) {
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

CharClassifier::CharClassifier() {
  for (char32_t cp = 0; cp < bmp_.size(); ++cp) bmp_[cp] = Compute(cp);
}

const CharClassifier& CharClassifier::Get() {
  static const auto* classifier = new CharClassifier;
  return *classifier;
}

}  // namespace tessera::tokenizer
