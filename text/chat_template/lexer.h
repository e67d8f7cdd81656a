// Lexer: template source to tokens, with jinja2's whitespace rules as transformers configures
// them (trim_blocks, lstrip_blocks, `-`/`+` modifiers, keep_trailing_newline=False).
//
// Text between tags becomes kData tokens with all whitespace control already applied, so the
// parser never sees whitespace rules. Comments vanish; raw blocks become data. Stateless
// function; thread-safe.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_LEXER_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_LEXER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::chat_template {

struct Token {
  enum class Type {
    kData,
    kVariableBegin,  // {{
    kVariableEnd,    // }}
    kBlockBegin,     // {%
    kBlockEnd,       // %}
    kName,
    kString,  // text: the value, escapes resolved
    kInt,
    kFloat,
    kOperator,  // text: the operator, e.g. "//" or "("
    kEof,
  };
  Type type;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws RenderError(kSyntax) naming the line for an unterminated tag, comment or string, or a
// character no token starts with.
std::vector<Token> Tokenize(std::string_view source, const LexerOptions& options = {});

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_LEXER_H_
