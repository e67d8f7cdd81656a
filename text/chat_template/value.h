// Value: a template value with Python's data model, as jinja2 templates see the JSON they are
// given (None, bool, int, float, str, list, tuple, dict) plus jinja's own kinds (undefined,
// namespace, macros and built-in functions).
//
// Strings, lists and dicts are immutable and shared (copying a Value copies a pointer), because
// the sandbox refuses every mutating method; the only mutable kind is a namespace, whose
// attributes `{% set ns.x = ... %}` changes. Dicts keep insertion order, as Python's do, and
// have string keys (every JSON object does; a template's dict literal with another key type is
// refused).
//
// Values are not thread-safe: a render builds and reads them on one thread.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_VALUE_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_VALUE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "nlohmann/json.hpp"

namespace tessera::chat_template {

class Value;
struct Macro;  // ast.h

// Containers nest at most this deep, so that printing, comparing, serialising and destroying a
// value (all recursive) cannot overflow the stack whatever a template builds.
inline constexpr int kMaxValueDepth = 512;

class Dict;

// Something a template can call: a macro it defined, one of the environment's globals, or a
// method of a str, dict or list taken as an attribute without calling it (`d.items`, which in
// Python is the method even when the dict has an "items" key).
struct Callable {
  enum class Kind { kMacro, kRaiseException, kStrftimeNow, kNamespace, kRange, kDict, kMethod };
  Kind kind;
  std::string name;
  const Macro* macro = nullptr;  // kMacro: owned by the parsed template, which outlives renders
  // kMacro: the scope the macro was defined in (the evaluator's). Weak, because that scope
  // holds the macro: a strong pointer would make a cycle that outlives the render.
  std::weak_ptr<void> closure;
  std::shared_ptr<const Value> receiver;  // kMethod: the object the method belongs to
};

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kDict,
    kNamespace,
    kCallable,
  };

  // An undefined value; `hint` is jinja2's message for using it ("'x' is undefined").
  Value() : kind_(Kind::kUndefined) {}
  static Value Undefined(std::string hint);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double d);
  static Value String(std::string s);
  static Value List(std::vector<Value> items);
  static Value Tuple(std::vector<Value> items);
  static Value MakeDict(Dict dict);
  static Value Namespace(Dict attrs);
  static Value MakeCallable(Callable callable);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  // int, float or bool (bool is an int in Python).
  bool is_number() const {
    return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool;
  }

  bool bool_value() const { return std::get<bool>(data_); }
  int64_t int_value() const;   // kInt or kBool
  double float_value() const;  // any number
  const std::string& str() const { return *std::get<StrPtr>(data_); }
  const std::vector<Value>& items() const { return *std::get<ListPtr>(data_); }
  const Dict& dict() const { return *std::get<DictPtr>(data_); }
  Dict& namespace_attrs() const { return *std::get<NsPtr>(data_); }
  const Callable& callable() const { return *std::get<CallablePtr>(data_); }
  // The message for using an undefined value.
  std::string undefined_hint() const;

  // Python's truth value; undefined is false.
  bool Truthy() const;
  // Python's type name, as its error messages print it ("str", "NoneType").
  std::string TypeName() const;
  // identity of shared objects (namespaces, callables), for `is sameas` and equality.
  const void* identity() const;
  // Levels of containers in this value (0 for a scalar); at most kMaxValueDepth.
  int depth() const { return depth_; }
  // Whether a namespace or a macro (whose scope may hold namespaces) is this value or inside it.
  // A namespace may not hold such a value: that is the only way a template could build a cycle,
  // or a chain of values deeper than the depth bound sees.
  bool refers_to_state() const { return refers_to_state_; }

 private:
  using StrPtr = std::shared_ptr<const std::string>;
  using ListPtr = std::shared_ptr<const std::vector<Value>>;
  using DictPtr = std::shared_ptr<const Dict>;
  using NsPtr = std::shared_ptr<Dict>;
  using CallablePtr = std::shared_ptr<const Callable>;

  // Sets depth_ and refers_to_state_ from the items; throws RenderError past kMaxValueDepth.
  void SetNesting(const std::vector<Value>& items);
  void SetNesting(const Dict& dict);

  Kind kind_;
  int depth_ = 0;
  bool refers_to_state_ = false;
  std::variant<std::monostate, bool, int64_t, double, StrPtr, ListPtr, DictPtr, NsPtr, CallablePtr>
      data_;
};

class Dict {
 public:
  const Value* Find(std::string_view key) const;
  // Adds the key at the end, or replaces its value in place (Python's dict semantics).
  void Set(std::string key, Value value);
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }
  size_t size() const { return items_.size(); }

 private:
  // Small dicts (most of a chat's: messages, loop info, scopes) are searched in order; the hash
  // index is built once a dict grows past kIndexFrom keys.
  static constexpr size_t kIndexFrom = 16;

  std::vector<std::pair<std::string, Value>> items_;
  absl::flat_hash_map<std::string, size_t> index_;
};

// JSON (as parsed, keys in document order) to a Value. The caller bounds the nesting (see
// kMaxValueDepth): the conversion recurses.
Value FromJson(const nlohmann::ordered_json& j);

// Printing a container can make a string far larger than the value (a list of a million
// references to one long string); printing stops with a sandbox error past this many bytes.
inline constexpr size_t kMaxPrintedBytes = size_t{64} << 20;

// str(value) as Python prints it ({{ x }}, the string filter, ~): undefined prints as "".
std::string ToPyStr(const Value& v, size_t max_bytes = kMaxPrintedBytes);
// repr(value): how a value prints inside a list or dict.
std::string ToPyRepr(const Value& v, size_t max_bytes = kMaxPrintedBytes);

// Python's ==, and <, which throws RenderError for types Python cannot order.
bool PyEquals(const Value& a, const Value& b);
bool PyLess(const Value& a, const Value& b);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  // std::nullopt: one line. A number n: n spaces per level; a string: that string per level.
  std::optional<std::string> indent;
  std::optional<std::pair<std::string, std::string>> separators;  // (item, key)
  bool sort_keys = false;
  size_t max_bytes = kMaxPrintedBytes;  // a sandbox error past this
};
// Python's json.dumps(value, ...), which transformers' tojson filter is. Throws RenderError for
// values JSON cannot hold (undefined, namespaces, macros).
std::string PyJsonDumps(const Value& v, const JsonDumpOptions& options);

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_VALUE_H_
