// The syntax tree of a parsed template: expressions and statements, each with its source line.
//
// A tree is built once by the parser, owned by Template, and only read afterwards (renders may
// share it across threads). Nodes are plain structs with a kind tag; which fields a kind uses is
// noted beside it.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_AST_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "text/chat_template/value.h"

namespace tessera::chat_template {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,   // literal
    kName,      // name
    kList,      // children: items
    kTuple,     // children: items
    kDict,      // children: key, value, key, value, ...
    kGetAttr,   // children[0] . name
    kGetItem,   // children[0] [ children[1] ]
    kSlice,     // children[0] [ children[1] : children[2] : children[3] ] (null when omitted)
    kCall,      // children[0] ( children[1..] , kwargs )
    kFilter,    // children[0] | name ( children[1..] , kwargs )
    kTest,      // children[0] is [not: negated] name ( children[1..] , kwargs )
    kUnary,     // op ("-", "+", "not") children[0]
    kBinary,    // children[0] op children[1]; op one of + - * / // % ** ~
    kAnd,       // children[0] and children[1]
    kOr,        // children[0] or children[1]
    kCompare,   // children[0] ops[0] children[1] ops[1] children[2] ... (chained as Python)
    kCondExpr,  // children[1] if children[0] else children[2] (children[2] null: undefined)
  };

  Expr(Kind k, int l) : kind(k), line(l) {}

  Kind kind;
  int line;
  Value literal;
  std::string name;  // kName, kGetAttr, kFilter, kTest; the operator of kUnary / kBinary
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // kCompare: == != < <= > >= in "not in"
  bool negated = false;          // kTest
  int depth = 1;                 // nesting depth of this subtree (sandbox limit)
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// A `{% set %}` or `{% for %}` target: one or more names, or namespace.attr.
struct Target {
  std::vector<std::string> names;  // several: unpack a sequence
  std::string attr;                // non-empty: names[0].attr (a namespace attribute)
};

struct Macro {
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default null when none
  Body body;
};

struct Stmt {
  enum class Kind {
    kText,      // text: template data, output as is
    kOutput,    // expr: {{ expr }}
    kIf,        // conditions[i] -> bodies[i]; else_body
    kFor,       // target in expr [if filter]: bodies[0]; else_body
    kSet,       // target = expr
    kSetBlock,  // target = output of bodies[0] (optionally through filter)
    kMacro,     // macro
    kBreak,
    kContinue,
    kScope,  // bodies[0] in its own scope with assignments (with), or unchanged (generation, block)
    kFilterBlock,  // bodies[0]'s output through filter
  };

  Stmt(Kind k, int l) : kind(k), line(l) {}

  Kind kind;
  int line;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;  // kFor: the loop filter; kSetBlock / kFilterBlock: a kFilter chain on a
                   // placeholder (children[0] null)
  Target target;
  std::vector<ExprPtr> conditions;
  std::vector<Body> bodies;
  Body else_body;
  std::vector<std::pair<Target, ExprPtr>> assignments;  // kScope (with)
  std::unique_ptr<chat_template::Macro> macro;
};

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_AST_H_
