#include "text/chat_template/lexer.h"

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "text/chat_template/py_string.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {
namespace {

// Source with jinja2's newline normalisation: \r\n and \r become \n, and (unless kept) one
// trailing newline is dropped.
std::string NormalizeNewlines(std::string_view source, bool keep_trailing_newline) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Length of the Python whitespace code point at s[i], or 0.
size_t PySpaceAt(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return IsPySpace(c) ? 1 : 0;
  size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
  if (i + n > s.size()) return 0;
  const std::u32string cp = DecodeUtf8(s.substr(i, n));
  return cp.size() == 1 && IsPySpace(cp[0]) ? n : 0;
}

class Lexer {
 public:
  Lexer(std::string_view source, const LexerOptions& options)
      : options_(options), src_(NormalizeNewlines(source, options.keep_trailing_newline)) {}

  std::vector<Token> Run() {
    while (pos_ < src_.size()) {
      size_t q = pos_;
      while (true) {
        q = src_.find('{', q);
        if (q == std::string::npos || q + 1 >= src_.size()) {
          q = std::string::npos;
          break;
        }
        const char c = src_[q + 1];
        if (c == '{' || c == '%' || c == '#') break;
        ++q;
      }
      if (q == std::string::npos) {
        EmitData(src_.substr(pos_), line_);
        break;
      }
      const char kind = src_[q + 1];
      size_t after = q + 2;
      char sign = 0;
      if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      size_t raw_end = 0;
      const bool raw = kind == '%' && MatchRawBegin(after, &raw_end);
      std::string text = src_.substr(pos_, q - pos_);
      StripBeforeTag(&text, sign, kind != '{');
      EmitData(std::move(text), line_);
      CountLines(pos_, q);
      if (kind == '#') {
        pos_ = after;
        LexComment();
      } else if (raw) {
        CountLines(q, raw_end);
        line_starting_ = src_[raw_end - 1] == '\n';
        pos_ = raw_end;
        LexRaw();
      } else {
        pos_ = after;
        LexTag(kind == '{');
      }
    }
    tokens_.push_back(Token{Token::Type::kEof, "", 0, 0, line_});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void Fail(const std::string& message, int line) {
    throw RenderError(RenderError::Kind::kSyntax, message, line);
  }

  void CountLines(size_t from, size_t to) {
    for (size_t i = from; i < to && i < src_.size(); ++i) line_ += src_[i] == '\n';
  }

  size_t SkipWhitespace(size_t i) {
    while (i < src_.size()) {
      const size_t n = PySpaceAt(src_, i);
      if (n == 0) break;
      i += n;
    }
    return i;
  }

  bool StartsWith(size_t i, std::string_view s) const { return src_.compare(i, s.size(), s) == 0; }

  // The data before a tag: `-` strips all whitespace; lstrip_blocks strips the spaces and tabs
  // that start the tag's line, for block and comment tags not marked `+`.
  void StripBeforeTag(std::string* text, char sign, bool block_or_comment) {
    if (sign == '-') {
      *text = PyStrip(*text, std::nullopt, StripSide::kRight);
    } else if (sign != '+' && options_.lstrip_blocks && block_or_comment) {
      const size_t nl = text->rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) &&
          text->find_first_not_of(" \t", l_pos) == std::string::npos) {
        text->resize(l_pos);
      }
    }
  }

  void EmitData(std::string text, int line) {
    if (text.empty()) return;
    tokens_.push_back(Token{Token::Type::kData, std::move(text), 0, 0, line});
  }

  void Emit(Token::Type type, std::string text, int line) {
    tokens_.push_back(Token{type, std::move(text), 0, 0, line});
  }

  // After a tag's closing delimiter at [begin, end): the `-` / `+` / trim_blocks rules.
  void CloseTag(size_t end, char sign, bool trim) {
    if (sign == '-') {
      const size_t next = SkipWhitespace(end);
      CountLines(end, next);
      end = next;
    } else if (sign != '+' && trim && options_.trim_blocks && end < src_.size() &&
               src_[end] == '\n') {
      ++end;
      ++line_;
    }
    line_starting_ = src_[end - 1] == '\n';
    pos_ = end;
  }

  // {%[-+]? \s* raw \s* (-%}\s* | %}) at the position after "{%" and its sign.
  bool MatchRawBegin(size_t i, size_t* end) {
    i = SkipWhitespace(i);
    if (!StartsWith(i, "raw")) return false;
    i = SkipWhitespace(i + 3);
    if (StartsWith(i, "-%}")) {
      *end = SkipWhitespace(i + 3);
      return true;
    }
    if (StartsWith(i, "%}")) {
      *end = i + 2;
      return true;
    }
    return false;
  }

  void LexComment() {
    const int line = line_;
    const size_t close = src_.find("#}", pos_);
    if (close == std::string::npos) Fail("Missing end of comment tag", line);
    char sign = 0;
    if (close > pos_ && (src_[close - 1] == '-' || src_[close - 1] == '+')) sign = src_[close - 1];
    CountLines(pos_, close);
    CloseTag(close + 2, sign, /*trim=*/true);
  }

  void LexRaw() {
    const int line = line_;
    for (size_t p = src_.find("{%", pos_); p != std::string::npos; p = src_.find("{%", p + 1)) {
      size_t i = p + 2;
      char sign = 0;
      if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) sign = src_[i++];
      i = SkipWhitespace(i);
      if (!StartsWith(i, "endraw")) continue;
      i = SkipWhitespace(i + 6);
      char end_sign = 0;
      if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) end_sign = src_[i++];
      if (!StartsWith(i, "%}")) continue;
      std::string text = src_.substr(pos_, p - pos_);
      StripBeforeTag(&text, sign, true);
      EmitData(std::move(text), line);
      CountLines(pos_, i);
      CloseTag(i + 2, end_sign, /*trim=*/true);
      return;
    }
    Fail("Missing end of raw directive", line);
  }

  void LexTag(bool variable) {
    const std::string_view close = variable ? "}}" : "%}";
    Emit(variable ? Token::Type::kVariableBegin : Token::Type::kBlockBegin, "", line_);
    std::vector<char> balance;
    while (true) {
      if (pos_ >= src_.size()) {
        Fail(absl::StrCat("unexpected end of template, expected '", std::string(close), "'"),
             line_);
      }
      if (balance.empty()) {
        char sign = 0;
        size_t at = pos_;
        if ((src_[at] == '-' || (!variable && src_[at] == '+')) && StartsWith(at + 1, close)) {
          sign = src_[at++];
        }
        if (StartsWith(at, close)) {
          Emit(variable ? Token::Type::kVariableEnd : Token::Type::kBlockEnd, "", line_);
          CloseTag(at + 2, sign, /*trim=*/!variable);
          return;
        }
      }
      const size_t ws = SkipWhitespace(pos_);
      if (ws != pos_) {
        CountLines(pos_, ws);
        pos_ = ws;
        continue;
      }
      const char c = src_[pos_];
      if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        LexNumber();
      } else if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t end = pos_ + 1;
        while (end < src_.size() &&
               (absl::ascii_isalnum(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) {
          ++end;
        }
        Emit(Token::Type::kName, src_.substr(pos_, end - pos_), line_);
        pos_ = end;
      } else if (c == '\'' || c == '"') {
        LexString();
      } else {
        LexOperator(&balance);
      }
    }
  }

  void LexOperator(std::vector<char>* balance) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwo) {
      if (StartsWith(pos_, op)) {
        Emit(Token::Type::kOperator, std::string(op), line_);
        pos_ += 2;
        return;
      }
    }
    const char c = src_[pos_];
    static constexpr std::string_view kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      Fail(absl::StrCat("unexpected char '", std::string(1, c), "'"), line_);
    }
    if (c == '(' || c == '[' || c == '{') {
      balance->push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance->empty() || balance->back() != c) {
        Fail(absl::StrCat("unexpected '", std::string(1, c), "'"), line_);
      }
      balance->pop_back();
    }
    Emit(Token::Type::kOperator, std::string(1, c), line_);
    ++pos_;
  }

  // Digits with single underscores between them, from i; returns the end.
  size_t ScanDigits(size_t i, int base) const {
    auto is_digit = [base](char ch) {
      const auto u = static_cast<unsigned char>(ch);
      if (base == 16) return absl::ascii_isxdigit(u) != 0;
      return ch >= '0' && ch < static_cast<char>('0' + base);
    };
    while (i < src_.size() && is_digit(src_[i])) {
      ++i;
      if (i + 1 < src_.size() && src_[i] == '_' && is_digit(src_[i + 1])) ++i;
    }
    return i;
  }

  void LexNumber() {
    const int line = line_;
    auto without_underscores = [](std::string s) {
      s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
      return s;
    };
    if (src_[pos_] == '0' && pos_ + 2 < src_.size()) {
      const char p =
          static_cast<char>(absl::ascii_tolower(static_cast<unsigned char>(src_[pos_ + 1])));
      const int base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
      if (base != 0) {
        size_t start = pos_ + 2;
        if (src_[start] == '_') ++start;
        const size_t end = ScanDigits(start, base);
        if (end > start) {
          const std::string digits = without_underscores(src_.substr(start, end - start));
          Token t{Token::Type::kInt, "", 0, 0, line};
          const auto r =
              std::from_chars(digits.data(), digits.data() + digits.size(), t.int_value, base);
          if (r.ec != std::errc()) Fail("integer literal out of range", line);
          tokens_.push_back(t);
          pos_ = end;
          return;
        }
      }
    }
    size_t end = ScanDigits(pos_, 10);
    bool is_float = false;
    // jinja2 reads no float right after a dot (x.0.1 is two subscripts).
    const bool after_dot = pos_ > 0 && src_[pos_ - 1] == '.';
    if (!after_dot) {
      size_t e = end;
      if (e + 1 < src_.size() && src_[e] == '.' &&
          absl::ascii_isdigit(static_cast<unsigned char>(src_[e + 1]))) {
        e = ScanDigits(e + 1, 10);
        is_float = true;
      }
      if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
        size_t x = e + 1;
        if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
        if (x < src_.size() && absl::ascii_isdigit(static_cast<unsigned char>(src_[x]))) {
          e = ScanDigits(x, 10);
          is_float = true;
        }
      }
      if (is_float) end = e;
    }
    const std::string digits = without_underscores(src_.substr(pos_, end - pos_));
    Token t{is_float ? Token::Type::kFloat : Token::Type::kInt, "", 0, 0, line};
    if (is_float) {
      std::from_chars(digits.data(), digits.data() + digits.size(), t.float_value);
    } else {
      const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), t.int_value);
      if (r.ec != std::errc()) Fail("integer literal out of range", line);
    }
    tokens_.push_back(t);
    pos_ = end;
  }

  // A quoted string with Python's escapes (jinja2 decodes them with "unicode-escape").
  void LexString() {
    const int line = line_;
    const char quote = src_[pos_];
    std::string value;
    size_t i = pos_ + 1;
    auto hex = [&](size_t at, int n) -> char32_t {
      uint32_t v = 0;
      for (int k = 0; k < n; ++k) {
        if (at + k >= src_.size() ||
            !absl::ascii_isxdigit(static_cast<unsigned char>(src_[at + k]))) {
          Fail("truncated escape sequence in a string", line);
        }
        const char h = src_[at + k];
        v = v * 16 + static_cast<uint32_t>(
                         absl::ascii_isdigit(static_cast<unsigned char>(h))
                             ? h - '0'
                             : absl::ascii_tolower(static_cast<unsigned char>(h)) - 'a' + 10);
      }
      if (v > 0x10FFFF) Fail("illegal Unicode character in a string", line);
      return v;
    };
    while (true) {
      if (i >= src_.size()) Fail("unexpected end of string", line);
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) Fail("unexpected end of string", line);
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n':
          break;
        case '\\':
          value.push_back('\\');
          break;
        case '\'':
          value.push_back('\'');
          break;
        case '"':
          value.push_back('"');
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case 'x':
          AppendUtf8(hex(i, 2), &value);
          i += 2;
          break;
        case 'u':
          AppendUtf8(hex(i, 4), &value);
          i += 4;
          break;
        case 'U':
          AppendUtf8(hex(i, 8), &value);
          i += 8;
          break;
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) {
              v = v * 8 + static_cast<uint32_t>(src_[i++] - '0');
            }
            AppendUtf8(v, &value);
          } else {
            // Python keeps an unknown escape as written.
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    CountLines(pos_, i);
    pos_ = i + 1;
    tokens_.push_back(Token{Token::Type::kString, std::move(value), 0, 0, line});
  }

  LexerOptions options_;
  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> Tokenize(std::string_view source, const LexerOptions& options) {
  return Lexer(source, options).Run();
}

}  // namespace tessera::chat_template
