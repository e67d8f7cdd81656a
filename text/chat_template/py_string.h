// Python's str semantics on UTF-8 strings: what jinja2 templates see when they call string
// methods, measure lengths or print values. Strings stay UTF-8; code points are decoded only
// where Python counts them (length, indexing, slicing, case mapping, whitespace).
//
// Stateless functions; thread-safe.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_PY_STRING_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_PY_STRING_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer/utf8.h"

namespace tessera::chat_template {

// Decodes UTF-8; an invalid byte decodes as itself (U+0080..U+00FF) rather than failing, so
// that no input can make a string method throw.
std::u32string DecodeUtf8(std::string_view s);
// Appends one code point (the tokenizer's encoder, text/tokenizer/utf8.h).
using ::tessera::tokenizer::AppendUtf8;
std::string EncodeUtf8(std::u32string_view s);
size_t CodePointCount(std::string_view s);

// str.isspace() of one code point.
bool IsPySpace(char32_t cp);

// str.strip / lstrip / rstrip; without chars, Unicode whitespace.
enum class StripSide { kBoth, kLeft, kRight };
std::string PyStrip(std::string_view s, const std::optional<std::string>& chars, StripSide side);

// str.split(sep, maxsplit) and str.rsplit; without sep, runs of whitespace and no empty parts.
std::vector<std::string> PySplit(std::string_view s, const std::optional<std::string>& sep,
                                 int maxsplit, bool from_right = false);
// str.splitlines() (without keepends).
std::vector<std::string> PySplitLines(std::string_view s);

// str.replace(old, new, count); count < 0: all.
std::string PyReplace(std::string_view s, std::string_view old, std::string_view replacement,
                      long count);

std::string PyUpper(std::string_view s);
std::string PyLower(std::string_view s);
std::string PyCapitalize(std::string_view s);
// jinja2's `title` filter: each word starts upper case, the rest lower case.
std::string JinjaTitle(std::string_view s);

// repr(str): quotes and escapes as CPython does.
std::string PyReprString(std::string_view s);
// repr(float) / str(float): the shortest round-trip digits, Python's notation rules.
std::string FormatPyFloat(double d);

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_PY_STRING_H_
