// The lexer: tokens, jinja2's whitespace rules in transformers' configuration, escapes, lines.
#include "text/chat_template/lexer.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {
namespace {

using TT = Token::Type;

// Tokens as compact strings: D:<data> { } [% %] N:name S:string I:int F:float O:op.
std::vector<std::string> Lex(const std::string& source) {
  std::vector<std::string> out;
  for (const Token& t : Tokenize(source)) {
    switch (t.type) {
      case TT::kData:
        out.push_back("D:" + t.text);
        break;
      case TT::kVariableBegin:
        out.push_back("{");
        break;
      case TT::kVariableEnd:
        out.push_back("}");
        break;
      case TT::kBlockBegin:
        out.push_back("[%");
        break;
      case TT::kBlockEnd:
        out.push_back("%]");
        break;
      case TT::kName:
        out.push_back("N:" + t.text);
        break;
      case TT::kString:
        out.push_back("S:" + t.text);
        break;
      case TT::kInt:
        out.push_back("I:" + std::to_string(t.int_value));
        break;
      case TT::kFloat:
        out.push_back("F:" + std::to_string(t.float_value));
        break;
      case TT::kOperator:
        out.push_back("O:" + t.text);
        break;
      case TT::kEof:
        break;
    }
  }
  return out;
}

using V = std::vector<std::string>;

TEST(Lexer, DataAndTags) {
  EXPECT_EQ(Lex("a {{ x }} b"), (V{"D:a ", "{", "N:x", "}", "D: b"}));
  EXPECT_EQ(Lex("{% if x %}y{% endif %}"),
            (V{"[%", "N:if", "N:x", "%]", "D:y", "[%", "N:endif", "%]"}));
}

TEST(Lexer, TrimBlocksDropsOneNewlineAfterBlockAndCommentTagsOnly) {
  EXPECT_EQ(Lex("{% if x %}\n\nA"), (V{"[%", "N:if", "N:x", "%]", "D:\nA"}));
  EXPECT_EQ(Lex("{# c #}\nA"), (V{"D:A"}));
  EXPECT_EQ(Lex("{{ x }}\nA"), (V{"{", "N:x", "}", "D:\nA"}));
  EXPECT_EQ(Lex("{% if x +%}\nA"), (V{"[%", "N:if", "N:x", "%]", "D:\nA"}));
}

TEST(Lexer, LstripBlocksOnlyWhenTheTagStartsItsLine) {
  EXPECT_EQ(Lex("a\n  \t{% if x %}"), (V{"D:a\n", "[%", "N:if", "N:x", "%]"}));
  EXPECT_EQ(Lex("a  {% if x %}"), (V{"D:a  ", "[%", "N:if", "N:x", "%]"}));
  EXPECT_EQ(Lex("  {{ x }}"), (V{"D:  ", "{", "N:x", "}"}));
  EXPECT_EQ(Lex("a\n  {%+ if x %}"), (V{"D:a\n  ", "[%", "N:if", "N:x", "%]"}));
  // After a print tag on the same line the spaces stay (the line did not start there).
  EXPECT_EQ(Lex("{{ x }}  {% if y %}"), (V{"{", "N:x", "}", "D:  ", "[%", "N:if", "N:y", "%]"}));
}

TEST(Lexer, MinusStripsAllWhitespaceOnItsSide) {
  EXPECT_EQ(Lex("a \n {{- x -}} \n b"), (V{"D:a", "{", "N:x", "}", "D:b"}));
  EXPECT_EQ(Lex("a\n\n{%- if x -%}\n\n b"), (V{"D:a", "[%", "N:if", "N:x", "%]", "D:b"}));
}

TEST(Lexer, NewlinesNormalisedAndOneTrailingNewlineDropped) {
  EXPECT_EQ(Lex("a\r\nb\rc\n\n"), (V{"D:a\nb\nc\n"}));
}

TEST(Lexer, StringsTakePythonEscapes) {
  EXPECT_EQ(Lex(R"({{ 'a\nb\t\'\\\u00e9\x41\101\q' }})"), (V{"{", "S:a\nb\t'\\\u00e9AA\\q", "}"}));
  EXPECT_EQ(Lex(R"({{ "it's" }})"), (V{"{", "S:it's", "}"}));
}

TEST(Lexer, NumbersAndOperators) {
  EXPECT_EQ(Lex("{{ 1_000 + 0x1f - 1.5 * 2e3 // x.0 ** 2 }}"),
            (V{"{", "I:1000", "O:+", "I:31", "O:-", "F:1.500000", "O:*", "F:2000.000000", "O://",
               "N:x", "O:.", "I:0", "O:**", "I:2", "}"}));
}

TEST(Lexer, ClosingDelimiterInsideBracketsIsNotTheEndOfTheTag) {
  EXPECT_EQ(Lex("{{ {'a': 1}}}"), (V{"{", "O:{", "S:a", "O::", "I:1", "O:}", "}"}));
}

TEST(Lexer, RawBlocksAreData) { EXPECT_EQ(Lex("{% raw %}{{ x }}{% endraw %}"), (V{"D:{{ x }}"})); }

TEST(Lexer, LinesCountFromOne) {
  const std::vector<Token> tokens = Tokenize("a\nb{{ x\n+ y }}\n{% if %}");
  EXPECT_EQ(tokens[0].line, 1);  // data
  EXPECT_EQ(tokens[2].line, 2);  // x
  EXPECT_EQ(tokens[4].line, 3);  // y
  EXPECT_EQ(tokens[6].line, 3);  // the newline after }}
  EXPECT_EQ(tokens[7].line, 4);  // {%
}

TEST(Lexer, ErrorsNameTheLine) {
  auto error_of = [](const std::string& source) -> std::string {
    try {
      Tokenize(source);
    } catch (const RenderError& e) {
      return std::to_string(e.line()) + ": " + e.message();
    }
    return "no error";
  };
  EXPECT_EQ(error_of("a\n{{ 'abc }}"), "2: unexpected end of string");
  EXPECT_EQ(error_of("a\n\n{# never closed"), "3: Missing end of comment tag");
  EXPECT_EQ(error_of("{{ x $ y }}"), "1: unexpected char '$'");
  EXPECT_EQ(error_of("{{ x ) }}"), "1: unexpected ')'");
  EXPECT_EQ(error_of("{{ x"), "1: unexpected end of template, expected '}}'");
  EXPECT_EQ(error_of("{% raw %}x"), "1: Missing end of raw directive");
}

}  // namespace
}  // namespace tessera::chat_template
