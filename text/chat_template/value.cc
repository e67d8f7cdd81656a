#include "text/chat_template/value.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "text/chat_template/py_string.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {

const Value* Dict::Find(std::string_view key) const {
  if (index_.empty()) {
    for (const auto& [k, v] : items_) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  const auto it = index_.find(absl::string_view(key.data(), key.size()));
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

void Dict::Set(std::string key, Value value) {
  if (Value* existing = const_cast<Value*>(Find(key))) {
    *existing = std::move(value);
    return;
  }
  items_.emplace_back(std::move(key), std::move(value));
  if (!index_.empty()) {
    index_.emplace(items_.back().first, items_.size() - 1);
  } else if (items_.size() > kIndexFrom) {
    for (size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
  }
}

Value Value::Undefined(std::string hint) {
  Value v;
  v.data_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.data_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.data_ = i;
  return v;
}

Value Value::Float(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.data_ = d;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.data_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

void Value::SetNesting(const std::vector<Value>& items) {
  int depth = 0;
  for (const Value& item : items) {
    depth = std::max(depth, item.depth_);
    refers_to_state_ = refers_to_state_ || item.refers_to_state_;
  }
  depth_ = depth + 1;
  if (depth_ > kMaxValueDepth) {
    throw RenderError(
        RenderError::Kind::kLimit,
        absl::StrCat("a value nested deeper than ", kMaxValueDepth, " levels (sandbox limit)"));
  }
}

void Value::SetNesting(const Dict& dict) {
  int depth = 0;
  for (const auto& [k, item] : dict.items()) {
    depth = std::max(depth, item.depth_);
    refers_to_state_ = refers_to_state_ || item.refers_to_state_;
  }
  depth_ = depth + 1;
  if (depth_ > kMaxValueDepth) {
    throw RenderError(
        RenderError::Kind::kLimit,
        absl::StrCat("a value nested deeper than ", kMaxValueDepth, " levels (sandbox limit)"));
  }
}

Value Value::List(std::vector<Value> items) {
  Value v;
  v.SetNesting(items);
  v.kind_ = Kind::kList;
  v.data_ = std::make_shared<const std::vector<Value>>(std::move(items));
  return v;
}

Value Value::Tuple(std::vector<Value> items) {
  Value v = List(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}

Value Value::MakeDict(Dict dict) {
  Value v;
  v.SetNesting(dict);
  v.kind_ = Kind::kDict;
  v.data_ = std::make_shared<const Dict>(std::move(dict));
  return v;
}

Value Value::Namespace(Dict attrs) {
  Value v;
  v.SetNesting(attrs);
  if (v.refers_to_state_) ThrowRuntime("a namespace cannot hold a namespace or a macro (sandbox)");
  v.refers_to_state_ = true;
  v.kind_ = Kind::kNamespace;
  v.data_ = std::make_shared<Dict>(std::move(attrs));
  return v;
}

Value Value::MakeCallable(Callable callable) {
  Value v;
  if (callable.kind == Callable::Kind::kMacro) v.refers_to_state_ = true;
  if (callable.receiver != nullptr) v.SetNesting(std::vector<Value>{*callable.receiver});
  v.kind_ = Kind::kCallable;
  v.data_ = std::make_shared<const Callable>(std::move(callable));
  return v;
}

int64_t Value::int_value() const {
  return kind_ == Kind::kBool ? (bool_value() ? 1 : 0) : std::get<int64_t>(data_);
}

double Value::float_value() const {
  return kind_ == Kind::kFloat ? std::get<double>(data_) : static_cast<double>(int_value());
}

std::string Value::undefined_hint() const {
  const auto* hint = std::get_if<StrPtr>(&data_);
  return hint != nullptr && *hint != nullptr ? **hint : "undefined value";
}

bool Value::Truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return bool_value();
    case Kind::kInt:
      return int_value() != 0;
    case Kind::kFloat:
      return float_value() != 0.0;
    case Kind::kString:
      return !str().empty();
    case Kind::kList:
    case Kind::kTuple:
      return !items().empty();
    case Kind::kDict:
      return dict().size() != 0;
    case Kind::kNamespace:
    case Kind::kCallable:
      return true;
  }
  return false;
}

std::string Value::TypeName() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "Namespace";
    case Kind::kCallable:
      switch (callable().kind) {
        case Callable::Kind::kMacro:
          return "Macro";
        case Callable::Kind::kMethod:
          return "builtin_function_or_method";
        default:
          return "function";
      }
  }
  return "object";
}

const void* Value::identity() const {
  if (const auto* p = std::get_if<NsPtr>(&data_)) return p->get();
  if (const auto* p = std::get_if<CallablePtr>(&data_)) return p->get();
  if (const auto* p = std::get_if<ListPtr>(&data_)) return p->get();
  if (const auto* p = std::get_if<DictPtr>(&data_)) return p->get();
  if (const auto* p = std::get_if<StrPtr>(&data_)) return p->get();
  return nullptr;
}

Value FromJson(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
    case nlohmann::ordered_json::value_t::discarded:
      return Value::None();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::Bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::Int(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      // Python's ints are unbounded; past int64 the nearest double is the best we hold.
      return u <= static_cast<uint64_t>(INT64_MAX) ? Value::Int(static_cast<int64_t>(u))
                                                   : Value::Float(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::Float(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::String(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(FromJson(e));
      return Value::List(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      for (const auto& [k, e] : j.items()) d.Set(k, FromJson(e));
      return Value::MakeDict(std::move(d));
    }
    case nlohmann::ordered_json::value_t::binary:
      break;
  }
  return Value::None();
}

namespace {

[[noreturn]] void ThrowTooLong(size_t max_bytes) {
  throw RenderError(RenderError::Kind::kLimit, absl::StrCat("printing a value makes more than ",
                                                            max_bytes, " bytes (sandbox limit)"));
}

void AppendRepr(const Value& v, size_t max_bytes, std::string* out) {
  auto put = [&](std::string_view s) {
    if (out->size() + s.size() > max_bytes) ThrowTooLong(max_bytes);
    out->append(s);
  };
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return put("Undefined");
    case Value::Kind::kNone:
      return put("None");
    case Value::Kind::kBool:
      return put(v.bool_value() ? "True" : "False");
    case Value::Kind::kInt:
      return put(absl::StrCat(v.int_value()));
    case Value::Kind::kFloat:
      return put(FormatPyFloat(v.float_value()));
    case Value::Kind::kString:
      if (v.str().size() > max_bytes) ThrowTooLong(max_bytes);
      return put(PyReprString(v.str()));
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const bool tuple = v.kind() == Value::Kind::kTuple;
      put(tuple ? "(" : "[");
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i > 0) put(", ");
        AppendRepr(v.items()[i], max_bytes, out);
      }
      if (tuple && v.items().size() == 1) put(",");
      return put(tuple ? ")" : "]");
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      const bool ns = v.kind() == Value::Kind::kNamespace;
      const Dict& d = ns ? v.namespace_attrs() : v.dict();
      put(ns ? "<Namespace {" : "{");
      bool first = true;
      for (const auto& [k, e] : d.items()) {
        if (!first) put(", ");
        first = false;
        put(PyReprString(k));
        put(": ");
        AppendRepr(e, max_bytes, out);
      }
      return put(ns ? "}>" : "}");
    }
    case Value::Kind::kCallable:
      switch (v.callable().kind) {
        case Callable::Kind::kMacro:
          return put(absl::StrCat("<Macro '", v.callable().name, "'>"));
        case Callable::Kind::kMethod:
          return put(absl::StrCat("<built-in method ", v.callable().name, " of ",
                                  v.callable().receiver->TypeName(), " object>"));
        default:
          return put(absl::StrCat("<function ", v.callable().name, ">"));
      }
  }
}

}  // namespace

std::string ToPyStr(const Value& v, size_t max_bytes) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kString:
      if (v.str().size() > max_bytes) ThrowTooLong(max_bytes);
      return v.str();
    default:
      return ToPyRepr(v, max_bytes);
  }
}

std::string ToPyRepr(const Value& v, size_t max_bytes) {
  std::string out;
  AppendRepr(v, max_bytes, &out);
  return out;
}

bool PyEquals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::kFloat || b.kind() == Value::Kind::kFloat) {
      return a.float_value() == b.float_value();
    }
    return a.int_value() == b.int_value();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.str() == b.str();
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i) {
        if (!PyEquals(a.items()[i], b.items()[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, e] : a.dict().items()) {
        const Value* other = b.dict().Find(k);
        if (other == nullptr || !PyEquals(e, *other)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

bool PyLess(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::kFloat || b.kind() == Value::Kind::kFloat) {
      return a.float_value() < b.float_value();
    }
    return a.int_value() < b.int_value();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();  // UTF-8 order is code point order
  if (a.is_sequence() && a.kind() == b.kind()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!PyEquals(x[i], y[i])) return PyLess(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  ThrowRuntime(absl::StrCat("'<' not supported between instances of '", a.TypeName(), "' and '",
                            b.TypeName(), "'"));
}

namespace {

void DumpJsonString(std::string_view s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  char buf[16];
  for (char32_t cp : DecodeUtf8(s)) {
    switch (cp) {
      case '"':
        *out += "\\\"";
        continue;
      case '\\':
        *out += "\\\\";
        continue;
      case '\n':
        *out += "\\n";
        continue;
      case '\r':
        *out += "\\r";
        continue;
      case '\t':
        *out += "\\t";
        continue;
      case '\b':
        *out += "\\b";
        continue;
      case '\f':
        *out += "\\f";
        continue;
      default:
        break;
    }
    if (cp < 0x20) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
      *out += buf;
    } else if (ensure_ascii && cp >= 0x80) {
      if (cp >= 0x10000) {
        const char32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 | (v >> 10)),
                      static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
      }
      *out += buf;
    } else {
      AppendUtf8(cp, out);
    }
  }
  out->push_back('"');
}

struct JsonDumper {
  const JsonDumpOptions& options;
  std::string item_sep;
  std::string key_sep;
  std::string* out;

  void Check() const {
    if (out->size() > options.max_bytes) ThrowTooLong(options.max_bytes);
  }

  void Newline(int level) {
    Check();
    if (!options.indent.has_value()) return;
    out->push_back('\n');
    for (int i = 0; i < level; ++i) *out += *options.indent;
  }

  void Dump(const Value& v, int level) {
    switch (v.kind()) {
      case Value::Kind::kNone:
        *out += "null";
        return;
      case Value::Kind::kBool:
        *out += v.bool_value() ? "true" : "false";
        return;
      case Value::Kind::kInt:
        absl::StrAppend(out, v.int_value());
        return;
      case Value::Kind::kFloat: {
        const double d = v.float_value();
        if (std::isnan(d)) {
          *out += "NaN";
        } else if (std::isinf(d)) {
          *out += d < 0 ? "-Infinity" : "Infinity";
        } else {
          *out += FormatPyFloat(d);
        }
        return;
      }
      case Value::Kind::kString:
        if (v.str().size() > options.max_bytes) ThrowTooLong(options.max_bytes);
        DumpJsonString(v.str(), options.ensure_ascii, out);
        Check();
        return;
      case Value::Kind::kList:
      case Value::Kind::kTuple: {
        if (v.items().empty()) {
          *out += "[]";
          return;
        }
        out->push_back('[');
        for (size_t i = 0; i < v.items().size(); ++i) {
          if (i > 0) *out += item_sep;
          Newline(level + 1);
          Dump(v.items()[i], level + 1);
        }
        Newline(level);
        out->push_back(']');
        return;
      }
      case Value::Kind::kDict: {
        if (v.dict().size() == 0) {
          *out += "{}";
          return;
        }
        std::vector<const std::pair<std::string, Value>*> entries;
        for (const auto& e : v.dict().items()) entries.push_back(&e);
        if (options.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto* x, const auto* y) { return x->first < y->first; });
        }
        out->push_back('{');
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i > 0) *out += item_sep;
          Newline(level + 1);
          DumpJsonString(entries[i]->first, options.ensure_ascii, out);
          Check();
          *out += key_sep;
          Dump(entries[i]->second, level + 1);
        }
        Newline(level);
        out->push_back('}');
        return;
      }
      default:
        ThrowRuntime(absl::StrCat("Object of type ", v.TypeName(), " is not JSON serializable"));
    }
  }
};

}  // namespace

std::string PyJsonDumps(const Value& v, const JsonDumpOptions& options) {
  std::string out;
  JsonDumper dumper{options, "", "", &out};
  if (options.separators.has_value()) {
    dumper.item_sep = options.separators->first;
    dumper.key_sep = options.separators->second;
  } else {
    dumper.item_sep = options.indent.has_value() ? "," : ", ";
    dumper.key_sep = ": ";
  }
  dumper.Dump(v, 0);
  dumper.Check();
  return out;
}

}  // namespace tessera::chat_template
