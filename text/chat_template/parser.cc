#include "text/chat_template/parser.h"

#include <algorithm>
#include <initializer_list>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {
namespace {

using TT = Token::Type;

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const SandboxLimits& limits)
      : tokens_(tokens), limits_(limits) {}

  Body Run() {
    std::string end;
    Body body = ParseBody({}, &end);
    return body;
  }

 private:
  // Counts recursion of the descent itself (parentheses, unary chains, nested blocks).
  class DepthGuard {
   public:
    DepthGuard(Parser* p, int* depth, int limit, const char* what) : depth_(depth) {
      if (++*depth_ > limit) {
        --*depth_;
        throw RenderError(RenderError::Kind::kLimit,
                          absl::StrCat(what, " nested deeper than ", limit, " (sandbox limit)"),
                          p->Cur().line);
      }
    }
    ~DepthGuard() { --*depth_; }

   private:
    int* depth_;
  };

  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Peek(size_t k = 1) const { return tokens_[std::min(pos_ + k, tokens_.size() - 1)]; }
  void Advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool IsOp(std::string_view op) const { return Cur().type == TT::kOperator && Cur().text == op; }
  bool IsName(std::string_view name) const { return Cur().type == TT::kName && Cur().text == name; }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Advance();
    return true;
  }
  bool SkipName(std::string_view name) {
    if (!IsName(name)) return false;
    Advance();
    return true;
  }

  static std::string Describe(const Token& t) {
    switch (t.type) {
      case TT::kData:
        return "template data";
      case TT::kVariableBegin:
        return "'{{'";
      case TT::kVariableEnd:
        return "end of print statement";
      case TT::kBlockBegin:
        return "'{%'";
      case TT::kBlockEnd:
        return "end of statement block";
      case TT::kName:
        return absl::StrCat("'", t.text, "'");
      case TT::kString:
        return "string";
      case TT::kInt:
      case TT::kFloat:
        return "number";
      case TT::kOperator:
        return absl::StrCat("'", t.text, "'");
      case TT::kEof:
        return "end of template";
    }
    return "token";
  }

  [[noreturn]] void Fail(const std::string& message) const {
    throw RenderError(RenderError::Kind::kSyntax, message, Cur().line);
  }
  [[noreturn]] void Unexpected(std::string_view expected) const {
    Fail(absl::StrCat("expected ", std::string(expected), ", got ", Describe(Cur())));
  }
  void ExpectOp(std::string_view op) {
    if (!SkipOp(op)) Unexpected(absl::StrCat("'", std::string(op), "'"));
  }
  void ExpectBlockEnd() {
    if (Cur().type != TT::kBlockEnd) Unexpected("end of statement block");
    Advance();
  }
  std::string ExpectName(std::string_view what) {
    if (Cur().type != TT::kName) Unexpected(what);
    std::string name = Cur().text;
    Advance();
    return name;
  }

  ExprPtr Node(Expr::Kind kind, int line, std::vector<ExprPtr> children = {}) {
    auto e = std::make_unique<Expr>(kind, line);
    e->children = std::move(children);
    FinishDepth(e.get());
    return e;
  }
  void FinishDepth(Expr* e) const {
    int depth = 0;
    for (const auto& c : e->children) {
      if (c) depth = std::max(depth, c->depth);
    }
    for (const auto& [name, c] : e->kwargs) depth = std::max(depth, c->depth);
    e->depth = depth + 1;
    if (e->depth > limits_.max_expression_depth) {
      throw RenderError(RenderError::Kind::kLimit,
                        absl::StrCat("expression nested deeper than ", limits_.max_expression_depth,
                                     " (sandbox limit)"),
                        e->line);
    }
  }

  // ---- statements ----

  Body ParseBody(std::initializer_list<std::string_view> ends, std::string* which) {
    DepthGuard guard(this, &block_depth_, limits_.max_block_depth, "blocks");
    Body body;
    while (true) {
      const Token& t = Cur();
      switch (t.type) {
        case TT::kData: {
          auto s = std::make_unique<Stmt>(Stmt::Kind::kText, t.line);
          s->text = t.text;
          body.push_back(std::move(s));
          Advance();
          break;
        }
        case TT::kVariableBegin: {
          auto s = std::make_unique<Stmt>(Stmt::Kind::kOutput, t.line);
          Advance();
          s->expr = ParseTuple();
          if (Cur().type != TT::kVariableEnd) Unexpected("end of print statement");
          Advance();
          body.push_back(std::move(s));
          break;
        }
        case TT::kBlockBegin: {
          const Token& name = Peek();
          if (name.type == TT::kName &&
              std::find(ends.begin(), ends.end(), name.text) != ends.end()) {
            *which = name.text;
            Advance();
            Advance();
            return body;
          }
          Advance();
          body.push_back(ParseStatement());
          break;
        }
        case TT::kEof:
          if (ends.size() != 0) {
            std::vector<std::string> quoted;
            for (std::string_view e : ends)
              quoted.push_back(absl::StrCat("'", std::string(e), "'"));
            Fail(absl::StrCat("unexpected end of template, expected ",
                              absl::StrJoin(quoted, " or ")));
          }
          return body;
        default:
          Unexpected("template data or a tag");
      }
    }
  }

  StmtPtr ParseStatement() {
    const int line = Cur().line;
    if (Cur().type != TT::kName) Unexpected("a statement name");
    const std::string tag = Cur().text;
    Advance();
    if (tag == "if") return ParseIf(line);
    if (tag == "for") return ParseFor(line);
    if (tag == "set") return ParseSet(line);
    if (tag == "macro") return ParseMacro(line);
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) Fail(absl::StrCat("'", tag, "' outside of a loop"));
      ExpectBlockEnd();
      return std::make_unique<Stmt>(tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue,
                                    line);
    }
    if (tag == "generation" || tag == "block") return ParseScope(tag, line);
    if (tag == "with") return ParseWith(line);
    if (tag == "filter") return ParseFilterBlock(line);
    if (tag == "include" || tag == "import" || tag == "from" || tag == "extends") {
      Fail(absl::StrCat("'", tag, "' is not available: chat templates cannot read other files"));
    }
    Fail(absl::StrCat("Encountered unknown tag '", tag, "'."));
  }

  StmtPtr ParseIf(int line) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::kIf, line);
    std::string which = "if";
    while (true) {
      s->conditions.push_back(ParseTuple(/*with_condexpr=*/true));
      ExpectBlockEnd();
      s->bodies.push_back(ParseBody({"elif", "else", "endif"}, &which));
      if (which != "elif") break;
    }
    if (which == "else") {
      ExpectBlockEnd();
      s->else_body = ParseBody({"endif"}, &which);
    }
    ExpectBlockEnd();
    return s;
  }

  Target ParseTarget(bool allow_attr) {
    Target t;
    const bool paren = SkipOp("(");
    t.names.push_back(ExpectName("a variable name"));
    if (allow_attr && !paren && SkipOp(".")) {
      t.attr = ExpectName("an attribute name");
      return t;
    }
    while (SkipOp(",")) {
      if (Cur().type != TT::kName || IsName("in")) break;
      t.names.push_back(ExpectName("a variable name"));
    }
    if (paren) ExpectOp(")");
    return t;
  }

  StmtPtr ParseFor(int line) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::kFor, line);
    s->target = ParseTarget(/*allow_attr=*/false);
    if (!SkipName("in")) Unexpected("'in'");
    s->expr = ParseTuple(/*with_condexpr=*/false);
    if (SkipName("if")) s->filter = ParseExpression();
    if (IsName("recursive")) Fail("recursive loops are not supported");
    ExpectBlockEnd();
    std::string which;
    ++loop_depth_;
    s->bodies.push_back(ParseBody({"endfor", "else"}, &which));
    --loop_depth_;
    if (which == "else") {
      ExpectBlockEnd();
      s->else_body = ParseBody({"endfor"}, &which);
    }
    ExpectBlockEnd();
    return s;
  }

  StmtPtr ParseSet(int line) {
    Target target = ParseTarget(/*allow_attr=*/true);
    if (SkipOp("=")) {
      auto s = std::make_unique<Stmt>(Stmt::Kind::kSet, line);
      s->target = std::move(target);
      s->expr = ParseTuple();
      ExpectBlockEnd();
      return s;
    }
    auto s = std::make_unique<Stmt>(Stmt::Kind::kSetBlock, line);
    if (target.names.size() != 1 || !target.attr.empty()) Fail("a block set takes one name");
    s->target = std::move(target);
    if (IsOp("|")) s->filter = ParseFilters(nullptr);
    ExpectBlockEnd();
    std::string which;
    s->bodies.push_back(ParseBody({"endset"}, &which));
    ExpectBlockEnd();
    return s;
  }

  StmtPtr ParseMacro(int line) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::kMacro, line);
    s->macro = std::make_unique<Macro>();
    s->macro->name = ExpectName("a macro name");
    ExpectOp("(");
    while (!IsOp(")")) {
      std::string param = ExpectName("a parameter name");
      ExprPtr def;
      if (SkipOp("=")) def = ParseExpression();
      s->macro->params.emplace_back(std::move(param), std::move(def));
      if (!SkipOp(",")) break;
    }
    ExpectOp(")");
    ExpectBlockEnd();
    std::string which;
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    s->macro->body = ParseBody({"endmacro"}, &which);
    loop_depth_ = saved_loop_depth;
    if (Cur().type == TT::kName) Advance();  // {% endmacro name %}
    ExpectBlockEnd();
    return s;
  }

  StmtPtr ParseScope(const std::string& tag, int line) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::kScope, line);
    if (tag == "block") ExpectName("a block name");
    ExpectBlockEnd();
    std::string which;
    const std::string end = "end" + tag;
    s->bodies.push_back(ParseBody({end}, &which));
    if (tag == "block" && Cur().type == TT::kName) Advance();
    ExpectBlockEnd();
    return s;
  }

  StmtPtr ParseWith(int line) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::kScope, line);
    while (Cur().type != TT::kBlockEnd) {
      if (!s->assignments.empty()) ExpectOp(",");
      Target t = ParseTarget(/*allow_attr=*/false);
      ExpectOp("=");
      s->assignments.emplace_back(std::move(t), ParseExpression());
    }
    ExpectBlockEnd();
    std::string which;
    s->bodies.push_back(ParseBody({"endwith"}, &which));
    ExpectBlockEnd();
    return s;
  }

  StmtPtr ParseFilterBlock(int line) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::kFilterBlock, line);
    s->filter = ParseFilters(nullptr, /*first_pipe=*/false);
    ExpectBlockEnd();
    std::string which;
    s->bodies.push_back(ParseBody({"endfilter"}, &which));
    ExpectBlockEnd();
    return s;
  }

  // ---- expressions ----

  // An expression, or several separated by commas (a tuple).
  ExprPtr ParseTuple(bool with_condexpr = true) {
    const int line = Cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) {
        if (!SkipOp(",")) break;
        is_tuple = true;
        if (Cur().type == TT::kBlockEnd || Cur().type == TT::kVariableEnd || IsOp(")") ||
            IsName("in") || IsName("if") || IsName("recursive")) {
          break;
        }
      }
      items.push_back(with_condexpr ? ParseExpression() : ParseOr());
    }
    if (!is_tuple) return std::move(items[0]);
    return Node(Expr::Kind::kTuple, line, std::move(items));
  }

  ExprPtr ParseExpression() {
    DepthGuard guard(this, &expr_depth_, limits_.max_expression_depth, "expressions");
    ExprPtr node = ParseOr();
    while (IsName("if")) {
      const int line = Cur().line;
      Advance();
      ExprPtr cond = ParseOr();
      ExprPtr otherwise;
      if (SkipName("else")) otherwise = ParseExpression();
      std::vector<ExprPtr> children;
      children.push_back(std::move(cond));
      children.push_back(std::move(node));
      children.push_back(std::move(otherwise));
      node = Node(Expr::Kind::kCondExpr, line, std::move(children));
    }
    return node;
  }

  ExprPtr Binary(Expr::Kind kind, std::string op, int line, ExprPtr left, ExprPtr right) {
    std::vector<ExprPtr> children;
    children.push_back(std::move(left));
    children.push_back(std::move(right));
    ExprPtr e = Node(kind, line, std::move(children));
    e->name = std::move(op);
    return e;
  }

  ExprPtr ParseOr() {
    ExprPtr left = ParseAnd();
    while (IsName("or")) {
      const int line = Cur().line;
      Advance();
      left = Binary(Expr::Kind::kOr, "or", line, std::move(left), ParseAnd());
    }
    return left;
  }

  ExprPtr ParseAnd() {
    ExprPtr left = ParseNot();
    while (IsName("and")) {
      const int line = Cur().line;
      Advance();
      left = Binary(Expr::Kind::kAnd, "and", line, std::move(left), ParseNot());
    }
    return left;
  }

  ExprPtr ParseNot() {
    if (IsName("not")) {
      DepthGuard guard(this, &expr_depth_, limits_.max_expression_depth, "expressions");
      const int line = Cur().line;
      Advance();
      std::vector<ExprPtr> children;
      children.push_back(ParseNot());
      ExprPtr e = Node(Expr::Kind::kUnary, line, std::move(children));
      e->name = "not";
      return e;
    }
    return ParseCompare();
  }

  ExprPtr ParseCompare() {
    const int line = Cur().line;
    ExprPtr first = ParseMath1();
    std::vector<ExprPtr> operands;
    std::vector<std::string> ops;
    while (true) {
      std::string op;
      if (Cur().type == TT::kOperator &&
          (Cur().text == "==" || Cur().text == "!=" || Cur().text == "<" || Cur().text == ">" ||
           Cur().text == "<=" || Cur().text == ">=")) {
        op = Cur().text;
        Advance();
      } else if (IsName("in")) {
        op = "in";
        Advance();
      } else if (IsName("not") && Peek().type == TT::kName && Peek().text == "in") {
        op = "not in";
        Advance();
        Advance();
      } else {
        break;
      }
      ops.push_back(std::move(op));
      operands.push_back(ParseMath1());
    }
    if (ops.empty()) return first;
    operands.insert(operands.begin(), std::move(first));
    ExprPtr e = Node(Expr::Kind::kCompare, line, std::move(operands));
    e->ops = std::move(ops);
    return e;
  }

  template <typename Next>
  ExprPtr ParseLeftAssoc(std::initializer_list<std::string_view> ops, Next next) {
    ExprPtr left = (this->*next)();
    while (Cur().type == TT::kOperator &&
           std::find(ops.begin(), ops.end(), Cur().text) != ops.end()) {
      const int line = Cur().line;
      std::string op = Cur().text;
      Advance();
      left = Binary(Expr::Kind::kBinary, std::move(op), line, std::move(left), (this->*next)());
    }
    return left;
  }

  ExprPtr ParseMath1() { return ParseLeftAssoc({"+", "-"}, &Parser::ParseConcat); }
  ExprPtr ParseConcat() { return ParseLeftAssoc({"~"}, &Parser::ParseMath2); }
  ExprPtr ParseMath2() { return ParseLeftAssoc({"*", "/", "//", "%"}, &Parser::ParsePow); }
  ExprPtr ParsePow() { return ParseLeftAssoc({"**"}, &Parser::ParseUnaryFiltered); }
  ExprPtr ParseUnaryFiltered() { return ParseUnary(true); }

  ExprPtr ParseUnary(bool with_filter) {
    DepthGuard guard(this, &expr_depth_, limits_.max_expression_depth, "expressions");
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      const int line = Cur().line;
      std::string op = Cur().text;
      Advance();
      std::vector<ExprPtr> children;
      children.push_back(ParseUnary(false));
      node = Node(Expr::Kind::kUnary, line, std::move(children));
      node->name = std::move(op);
    } else {
      node = ParsePrimary();
    }
    node = ParsePostfix(std::move(node));
    if (with_filter) node = ParseFilterExpr(std::move(node));
    return node;
  }

  ExprPtr ParsePrimary() {
    const Token& t = Cur();
    const int line = t.line;
    switch (t.type) {
      case TT::kName: {
        auto e = std::make_unique<Expr>(Expr::Kind::kLiteral, line);
        if (t.text == "true" || t.text == "True") {
          e->literal = Value::Bool(true);
        } else if (t.text == "false" || t.text == "False") {
          e->literal = Value::Bool(false);
        } else if (t.text == "none" || t.text == "None") {
          e->literal = Value::None();
        } else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        Advance();
        return e;
      }
      case TT::kString: {
        std::string s;
        while (Cur().type == TT::kString) {
          s += Cur().text;
          Advance();
        }
        auto e = std::make_unique<Expr>(Expr::Kind::kLiteral, line);
        e->literal = Value::String(std::move(s));
        return e;
      }
      case TT::kInt:
      case TT::kFloat: {
        auto e = std::make_unique<Expr>(Expr::Kind::kLiteral, line);
        e->literal = t.type == TT::kInt ? Value::Int(t.int_value) : Value::Float(t.float_value);
        Advance();
        return e;
      }
      case TT::kOperator:
        if (t.text == "(") {
          Advance();
          if (SkipOp(")")) return Node(Expr::Kind::kTuple, line);
          ExprPtr inner = ParseTuple();
          ExpectOp(")");
          return inner;
        }
        if (t.text == "[") {
          Advance();
          std::vector<ExprPtr> items;
          while (!IsOp("]")) {
            items.push_back(ParseExpression());
            if (!SkipOp(",")) break;
          }
          ExpectOp("]");
          return Node(Expr::Kind::kList, line, std::move(items));
        }
        if (t.text == "{") {
          Advance();
          std::vector<ExprPtr> items;
          while (!IsOp("}")) {
            items.push_back(ParseExpression());
            ExpectOp(":");
            items.push_back(ParseExpression());
            if (!SkipOp(",")) break;
          }
          ExpectOp("}");
          return Node(Expr::Kind::kDict, line, std::move(items));
        }
        break;
      default:
        break;
    }
    Unexpected("an expression");
  }

  ExprPtr ParsePostfix(ExprPtr node) {
    while (true) {
      const int line = Cur().line;
      if (SkipOp(".")) {
        if (Cur().type == TT::kInt) {
          auto index = std::make_unique<Expr>(Expr::Kind::kLiteral, line);
          index->literal = Value::Int(Cur().int_value);
          Advance();
          std::vector<ExprPtr> children;
          children.push_back(std::move(node));
          children.push_back(std::move(index));
          node = Node(Expr::Kind::kGetItem, line, std::move(children));
          continue;
        }
        std::vector<ExprPtr> children;
        children.push_back(std::move(node));
        std::string attr = ExpectName("an attribute name");
        node = Node(Expr::Kind::kGetAttr, line, std::move(children));
        node->name = std::move(attr);
      } else if (SkipOp("[")) {
        node = ParseSubscript(std::move(node), line);
      } else if (IsOp("(")) {
        node = ParseCall(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr ParseSubscript(ExprPtr node, int line) {
    ExprPtr start, stop, step;
    if (!IsOp(":")) {
      start = ParseExpression();
      if (SkipOp("]")) {
        std::vector<ExprPtr> children;
        children.push_back(std::move(node));
        children.push_back(std::move(start));
        return Node(Expr::Kind::kGetItem, line, std::move(children));
      }
    }
    ExpectOp(":");
    if (!IsOp("]") && !IsOp(":")) stop = ParseExpression();
    if (SkipOp(":") && !IsOp("]")) step = ParseExpression();
    ExpectOp("]");
    std::vector<ExprPtr> children;
    children.push_back(std::move(node));
    children.push_back(std::move(start));
    children.push_back(std::move(stop));
    children.push_back(std::move(step));
    return Node(Expr::Kind::kSlice, line, std::move(children));
  }

  // Arguments in parentheses into e (children after the first, and kwargs).
  void ParseArgs(Expr* e) {
    ExpectOp("(");
    while (!IsOp(")")) {
      if (IsOp("*") || IsOp("**")) Fail("*args and **kwargs in calls are not supported");
      if (Cur().type == TT::kName && Peek().type == TT::kOperator && Peek().text == "=") {
        std::string name = Cur().text;
        Advance();
        Advance();
        e->kwargs.emplace_back(std::move(name), ParseExpression());
      } else {
        if (!e->kwargs.empty()) Fail("positional argument follows keyword argument");
        e->children.push_back(ParseExpression());
      }
      if (!SkipOp(",")) break;
    }
    ExpectOp(")");
  }

  ExprPtr ParseCall(ExprPtr callee) {
    auto e = std::make_unique<Expr>(Expr::Kind::kCall, Cur().line);
    e->children.push_back(std::move(callee));
    ParseArgs(e.get());
    FinishDepth(e.get());
    return e;
  }

  std::string ParseDottedName(std::string_view what) {
    std::string name = ExpectName(what);
    while (IsOp(".") && Peek().type == TT::kName) {
      Advance();
      absl::StrAppend(&name, ".", Cur().text);
      Advance();
    }
    return name;
  }

  // `| f(args) | g ...` applied to node (null: a placeholder the statement fills in).
  ExprPtr ParseFilters(ExprPtr node, bool first_pipe = true) {
    bool need_pipe = first_pipe;
    while (!need_pipe || IsOp("|")) {
      if (need_pipe) Advance();
      need_pipe = true;
      auto e = std::make_unique<Expr>(Expr::Kind::kFilter, Cur().line);
      e->name = ParseDottedName("a filter name");
      e->children.push_back(std::move(node));
      if (IsOp("(")) ParseArgs(e.get());
      FinishDepth(e.get());
      node = std::move(e);
    }
    return node;
  }

  ExprPtr ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp("|")) {
        node = ParseFilters(std::move(node));
      } else if (IsName("is")) {
        node = ParseTest(std::move(node));
      } else if (IsOp("(")) {
        node = ParseCall(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr ParseTest(ExprPtr node) {
    auto e = std::make_unique<Expr>(Expr::Kind::kTest, Cur().line);
    Advance();  // is
    e->negated = SkipName("not");
    e->name = ParseDottedName("a test name");
    e->children.push_back(std::move(node));
    const TT type = Cur().type;
    if (IsOp("(")) {
      ParseArgs(e.get());
    } else if ((type == TT::kName || type == TT::kString || type == TT::kInt ||
                type == TT::kFloat || IsOp("[") || IsOp("{")) &&
               !IsName("else") && !IsName("or") && !IsName("and")) {
      if (IsName("is")) Fail("You cannot chain multiple tests with is");
      e->children.push_back(ParsePostfix(ParsePrimary()));
    }
    FinishDepth(e.get());
    return e;
  }

  const std::vector<Token>& tokens_;
  const SandboxLimits& limits_;
  size_t pos_ = 0;
  int expr_depth_ = 0;
  int block_depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body ParseTemplate(const std::vector<Token>& tokens, const SandboxLimits& limits) {
  return Parser(tokens, limits).Run();
}

}  // namespace tessera::chat_template
