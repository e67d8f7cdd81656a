// Python's operators and element access on template values, as jinja2's sandbox applies them:
// arithmetic and concatenation, `in`, attribute and item lookup with jinja's fallbacks (a.b
// tries a['b']; a missing key or index is undefined, not an error), slicing, and iteration.
//
// Operations that create strings or lists charge the render budget first, so that no operator
// can build a value past the sandbox limits. Throw RenderError on a type error. Stateless
// functions; thread-safe on distinct budgets.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_OPERATORS_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_OPERATORS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/chat_template/sandbox.h"
#include "text/chat_template/value.h"

namespace tessera::chat_template {

// op: + - * / // % ** ~
Value BinaryOp(std::string_view op, const Value& a, const Value& b, RenderBudget& budget);
// op: - +
Value UnaryOp(std::string_view op, const Value& v);
// `item in container`.
bool Contains(const Value& container, const Value& item);

// Throws jinja2's UndefinedError (the undefined value's own message) when v is undefined.
void FailIfUndefined(const Value& v);

Value GetAttr(const Value& obj, std::string_view name);
Value GetItem(const Value& obj, const Value& key);
// obj[start:stop:step]; a missing bound is undefined or none.
Value Slice(const Value& obj, const Value& start, const Value& stop, const Value& step,
            RenderBudget& budget);

// The items a for loop (or list()) sees: list and tuple items, dict keys, a string's
// characters; undefined iterates as empty. Throws for values Python cannot iterate.
std::vector<Value> Iterate(const Value& v);

// Python's len(); throws for values without one.
int64_t PyLen(const Value& v);

// `format % args` with Python's printf-style conversions (s, r, d, i, f, x, %).
std::string PercentFormat(const std::string& format, const Value& args);

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_OPERATORS_H_
