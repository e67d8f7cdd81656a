// The parser: jinja2's operator precedence and statement forms, as a printed tree.
#include "text/chat_template/parser.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "text/chat_template/lexer.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {
namespace {

std::string Print(const Expr* e) {
  if (e == nullptr) return "_";
  std::vector<std::string> kids;
  for (const ExprPtr& c : e->children) kids.push_back(Print(c.get()));
  for (const auto& [k, c] : e->kwargs) kids.push_back(k + "=" + Print(c.get()));
  const std::string args = absl::StrJoin(kids, " ");
  switch (e->kind) {
    case Expr::Kind::kLiteral:
      return ToPyRepr(e->literal);
    case Expr::Kind::kName:
      return e->name;
    case Expr::Kind::kList:
      return "[" + args + "]";
    case Expr::Kind::kTuple:
      return "(tuple " + args + ")";
    case Expr::Kind::kDict:
      return "{" + args + "}";
    case Expr::Kind::kGetAttr:
      return "(. " + args + " " + e->name + ")";
    case Expr::Kind::kGetItem:
      return "([] " + args + ")";
    case Expr::Kind::kSlice:
      return "(slice " + args + ")";
    case Expr::Kind::kCall:
      return "(call " + args + ")";
    case Expr::Kind::kFilter:
      return "(|" + e->name + " " + args + ")";
    case Expr::Kind::kTest:
      return absl::StrCat("(is", e->negated ? "not " : " ", e->name, " ", args, ")");
    case Expr::Kind::kUnary:
    case Expr::Kind::kBinary:
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr:
      return "(" + e->name + " " + args + ")";
    case Expr::Kind::kCompare:
      return "(cmp " + absl::StrJoin(e->ops, ",") + " " + args + ")";
    case Expr::Kind::kCondExpr:
      return "(if " + args + ")";
  }
  return "?";
}

// The expression of a template that is one {{ ... }}.
std::string Expression(const std::string& expr) {
  const Body body = ParseTemplate(Tokenize("{{ " + expr + " }}"), SandboxLimits());
  return Print(body.at(0)->expr.get());
}

std::string ErrorOf(const std::string& source) {
  try {
    ParseTemplate(Tokenize(source), SandboxLimits());
  } catch (const RenderError& e) {
    return std::to_string(e.line()) + ": " + e.message();
  }
  return "no error";
}

TEST(Parser, ArithmeticPrecedence) {
  EXPECT_EQ(Expression("a + b * c ** d"), "(+ a (* b (** c d)))");
  EXPECT_EQ(Expression("a - b - c"), "(- (- a b) c)");
  // ~ binds tighter than + in jinja2 (parse_math1 reads concat operands).
  EXPECT_EQ(Expression("a ~ b + c"), "(+ (~ a b) c)");
}

TEST(Parser, FiltersBindToTheirOperandTighterThanBinaryOperators) {
  EXPECT_EQ(Expression("'a' + m['c'] | trim + 'b'"), "(+ (+ 'a' (|trim ([] m 'c'))) 'b')");
  EXPECT_EQ(Expression("-x|abs"), "(|abs (- x))");
  EXPECT_EQ(Expression("t|tojson(indent=4)"), "(|tojson t indent=4)");
}

TEST(Parser, LogicAndComparisons) {
  EXPECT_EQ(Expression("not a == b and c or d"), "(or (and (not (cmp == a b)) c) d)");
  EXPECT_EQ(Expression("a < b <= c"), "(cmp <,<= a b c)");
  EXPECT_EQ(Expression("a not in b"), "(cmp not in a b)");
  EXPECT_EQ(Expression("a if b else c if d"), "(if b a (if d c _))");
}

TEST(Parser, TestsTakeOneArgumentWithoutParentheses) {
  EXPECT_EQ(Expression("x is divisibleby 3"), "(is divisibleby x 3)");
  EXPECT_EQ(Expression("x is not none and y"), "(and (isnot none x) y)");
  EXPECT_EQ(Expression("x is defined or y"), "(or (is defined x) y)");
}

TEST(Parser, SubscriptsSlicesCallsAndLiterals) {
  EXPECT_EQ(Expression("m[0].role"), "(. ([] m 0) role)");
  EXPECT_EQ(Expression("m[1:]"), "(slice m 1 _ _)");
  EXPECT_EQ(Expression("m[::-1]"), "(slice m _ _ (- 1))");
  EXPECT_EQ(Expression("s.strip('x')"), "(call (. s strip) 'x')");
  EXPECT_EQ(Expression("{'a': [1, (2, 3)], 'b': none}"), "{'a' [1 (tuple 2 3)] 'b' None}");
  EXPECT_EQ(Expression("1, 2"), "(tuple 1 2)");
}

TEST(Parser, Statements) {
  const Body body = ParseTemplate(
      Tokenize("{% for k, v in d|items if v %}{% set ns.x = k %}{% else %}e{% endfor %}"
               "{% macro m(a, b=1) %}{{ a }}{% endmacro %}"),
      SandboxLimits());
  ASSERT_EQ(body.size(), 2u);
  const Stmt& loop = *body[0];
  EXPECT_EQ(loop.kind, Stmt::Kind::kFor);
  EXPECT_EQ(loop.target.names, (std::vector<std::string>{"k", "v"}));
  EXPECT_EQ(Print(loop.expr.get()), "(|items d)");
  EXPECT_EQ(Print(loop.filter.get()), "v");
  EXPECT_EQ(loop.bodies[0][0]->target.attr, "x");
  EXPECT_EQ(loop.else_body.size(), 1u);
  EXPECT_EQ(body[1]->macro->params.size(), 2u);
  EXPECT_EQ(Print(body[1]->macro->params[1].second.get()), "1");
}

TEST(Parser, ErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("{% if x %}\n{% endfor %}"), "2: Encountered unknown tag 'endfor'.");
  EXPECT_EQ(ErrorOf("a\n{% for x in y %}"),
            "2: unexpected end of template, expected 'endfor' or 'else'");
  EXPECT_EQ(ErrorOf("{% break %}"), "1: 'break' outside of a loop");
  EXPECT_EQ(ErrorOf("{{ 1 + }}"), "1: expected an expression, got end of print statement");
  EXPECT_EQ(ErrorOf("\n{% include 'x.jinja' %}"),
            "2: 'include' is not available: chat templates cannot read other files");
  EXPECT_EQ(ErrorOf("{% for x in y recursive %}{% endfor %}"),
            "1: recursive loops are not supported");
}

}  // namespace
}  // namespace tessera::chat_template
