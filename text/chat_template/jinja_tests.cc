// Tests (`x is name`), as jinja2 3.1 defines them.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/operators.h"
#include "text/chat_template/py_string.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {
namespace {

const Value& Arg(const CallArgs& args, std::string_view test) {
  const Value* v = args.Get(0, "other");
  if (v == nullptr) v = args.Get(0, "value");
  if (v == nullptr) v = args.Get(0, "seq");
  if (v == nullptr) v = args.Get(0, "num");
  if (v == nullptr) ThrowRuntime(absl::StrCat("test '", std::string(test), "' needs an argument"));
  return *v;
}

int64_t IntOf(const Value& v, std::string_view test) {
  if (!v.is_number() || v.kind() == Value::Kind::kFloat) {
    ThrowRuntime(
        absl::StrCat("test '", std::string(test), "' needs an integer, got ", v.TypeName()));
  }
  return v.int_value();
}

bool HasCased(std::string_view s, bool upper) {
  // str.islower()/isupper(): at least one cased character, and none of the other case.
  bool cased = false;
  const std::string lower = PyLower(s), up = PyUpper(s);
  if (lower == up) return false;
  cased = true;
  return cased && (upper ? up == s : lower == s);
}

constexpr std::string_view kTests[] = {
    "defined", "undefined", "none",   "boolean", "false",       "true",     "integer",
    "float",   "number",    "string", "mapping", "iterable",    "sequence", "callable",
    "sameas",  "escaped",   "lower",  "upper",   "odd",         "even",     "divisibleby",
    "eq",      "equalto",   "==",     "ne",      "!=",          "lt",       "lessthan",
    "<",       "le",        "<=",     "gt",      "greaterthan", ">",        "ge",
    ">=",      "in"};

}  // namespace

bool HasTest(std::string_view name) {
  return std::find(std::begin(kTests), std::end(kTests), name) != std::end(kTests);
}

bool ApplyTest(std::string_view name, const Value& v, const CallArgs& args) {
  using K = Value::Kind;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.kind() == K::kBool;
  if (name == "false") return v.kind() == K::kBool && !v.bool_value();
  if (name == "true") return v.kind() == K::kBool && v.bool_value();
  if (name == "integer") return v.kind() == K::kInt;
  if (name == "float") return v.kind() == K::kFloat;
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") {
    return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
  }
  if (name == "sequence") return v.is_string() || v.is_sequence() || v.is_dict();
  if (name == "callable") return v.kind() == K::kCallable;
  if (name == "sameas") {
    const Value& o = Arg(args, name);
    if (v.kind() != o.kind()) return false;
    if (v.is_none() || v.is_undefined()) return true;
    if (v.kind() == K::kBool) return v.bool_value() == o.bool_value();
    return v.identity() != nullptr && v.identity() == o.identity();
  }
  if (name == "escaped") return false;
  if (name == "lower") return HasCased(ToPyStr(v), false);
  if (name == "upper") return HasCased(ToPyStr(v), true);
  if (name == "odd") return IntOf(v, name) % 2 != 0;
  if (name == "even") return IntOf(v, name) % 2 == 0;
  if (name == "divisibleby") {
    const int64_t d = IntOf(Arg(args, name), name);
    if (d == 0) ThrowRuntime("integer division or modulo by zero");
    return IntOf(v, name) % d == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return PyEquals(v, Arg(args, name));
  if (name == "ne" || name == "!=") return !PyEquals(v, Arg(args, name));
  if (name == "lt" || name == "lessthan" || name == "<") return PyLess(v, Arg(args, name));
  if (name == "le" || name == "<=") return !PyLess(Arg(args, name), v);
  if (name == "gt" || name == "greaterthan" || name == ">") return PyLess(Arg(args, name), v);
  if (name == "ge" || name == ">=") return !PyLess(v, Arg(args, name));
  if (name == "in") return Contains(Arg(args, name), v);
  ThrowRuntime(absl::StrCat("No test named '", std::string(name), "'."));
}

}  // namespace tessera::chat_template
