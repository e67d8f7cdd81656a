#include "text/chat_template/operators.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/py_string.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {
namespace {

// jinja2's object_type_repr: how an undefined-attribute message names the object.
std::string ObjectTypeRepr(const Value& v) {
  if (v.is_none()) return "None";
  return absl::StrCat(v.TypeName(), " object");
}

[[noreturn]] void Unsupported(std::string_view op, const Value& a, const Value& b) {
  ThrowRuntime(absl::StrCat("unsupported operand type(s) for ", std::string(op), ": '",
                            a.TypeName(), "' and '", b.TypeName(), "'"));
}

void CheckOverflow(bool overflow) {
  if (overflow) ThrowRuntime("integer overflow (ints are limited to 64 bits here)");
}

double FloorMod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

Value Repeat(const Value& seq, int64_t times, RenderBudget& budget) {
  if (times < 0) times = 0;
  if (seq.is_string() ? seq.str().empty() : seq.items().empty()) return seq;
  if (seq.is_string()) {
    const size_t size = seq.str().size();
    if (size != 0 && static_cast<uint64_t>(times) > budget.limits().max_output_bytes / size + 1) {
      budget.ChargeString(budget.limits().max_output_bytes + 1);
    }
    budget.ChargeString(size * static_cast<size_t>(times));
    std::string out;
    out.reserve(size * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += seq.str();
    return Value::String(std::move(out));
  }
  const size_t size = seq.items().size();
  if (size != 0 && static_cast<uint64_t>(times) > budget.limits().max_list_items / size + 1) {
    budget.ChargeList(budget.limits().max_list_items + 1);
  }
  budget.ChargeList(size * static_cast<size_t>(times));
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return seq.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(out))
                                           : Value::List(std::move(out));
}

Value Arithmetic(std::string_view op, const Value& a, const Value& b) {
  const bool floats = a.kind() == Value::Kind::kFloat || b.kind() == Value::Kind::kFloat;
  if (op == "/") {
    if (b.float_value() == 0) ThrowRuntime("division by zero");
    return Value::Float(a.float_value() / b.float_value());
  }
  if (floats) {
    const double x = a.float_value(), y = b.float_value();
    if (op == "+") return Value::Float(x + y);
    if (op == "-") return Value::Float(x - y);
    if (op == "*") return Value::Float(x * y);
    if (op == "**") return Value::Float(std::pow(x, y));
    if (y == 0) ThrowRuntime("float division by zero");
    if (op == "//") return Value::Float(std::floor(x / y));
    return Value::Float(FloorMod(x, y));  // %
  }
  const int64_t x = a.int_value(), y = b.int_value();
  int64_t r = 0;
  if (op == "+") {
    CheckOverflow(__builtin_add_overflow(x, y, &r));
    return Value::Int(r);
  }
  if (op == "-") {
    CheckOverflow(__builtin_sub_overflow(x, y, &r));
    return Value::Int(r);
  }
  if (op == "*") {
    CheckOverflow(__builtin_mul_overflow(x, y, &r));
    return Value::Int(r);
  }
  if (op == "**") {
    if (y < 0) return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
    int64_t result = 1;
    for (int64_t i = 0; i < y; ++i) {
      CheckOverflow(__builtin_mul_overflow(result, x, &r));
      result = r;
      if (result == 0 || result == 1) break;
    }
    return Value::Int(result);
  }
  if (y == 0) ThrowRuntime("integer division or modulo by zero");
  if (x == INT64_MIN && y == -1)
    ThrowRuntime("integer overflow (ints are limited to 64 bits here)");
  int64_t q = x / y, m = x % y;
  if (m != 0 && ((m < 0) != (y < 0))) {
    --q;
    m += y;
  }
  return Value::Int(op == "//" ? q : m);
}

}  // namespace

void FailIfUndefined(const Value& v) {
  if (v.is_undefined()) ThrowRuntime(v.undefined_hint());
}

Value BinaryOp(std::string_view op, const Value& a, const Value& b, RenderBudget& budget) {
  if (op == "~") {
    std::string s = ToPyStr(a);
    const std::string t = ToPyStr(b);
    budget.ChargeString(s.size() + t.size());
    return Value::String(s + t);
  }
  FailIfUndefined(a);
  FailIfUndefined(b);
  if (a.is_number() && b.is_number()) return Arithmetic(op, a, b);
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      budget.ChargeString(a.str().size() + b.str().size());
      return Value::String(a.str() + b.str());
    }
    if (a.is_sequence() && a.kind() == b.kind()) {
      budget.ChargeList(a.items().size() + b.items().size());
      std::vector<Value> items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return a.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(items))
                                             : Value::List(std::move(items));
    }
    if (a.is_string()) {
      ThrowRuntime(absl::StrCat("can only concatenate str (not \"", b.TypeName(), "\") to str"));
    }
    if (a.kind() == Value::Kind::kList) {
      ThrowRuntime(absl::StrCat("can only concatenate list (not \"", b.TypeName(), "\") to list"));
    }
    Unsupported(op, a, b);
  }
  if (op == "*") {
    if ((a.is_string() || a.is_sequence()) && b.is_number() && b.kind() != Value::Kind::kFloat) {
      return Repeat(a, b.int_value(), budget);
    }
    if ((b.is_string() || b.is_sequence()) && a.is_number() && a.kind() != Value::Kind::kFloat) {
      return Repeat(b, a.int_value(), budget);
    }
  }
  if (op == "%" && a.is_string()) {
    std::string s = PercentFormat(a.str(), b);
    budget.ChargeString(s.size());
    return Value::String(std::move(s));
  }
  Unsupported(op, a, b);
}

Value UnaryOp(std::string_view op, const Value& v) {
  FailIfUndefined(v);
  if (!v.is_number()) {
    ThrowRuntime(
        absl::StrCat("bad operand type for unary ", std::string(op), ": '", v.TypeName(), "'"));
  }
  if (op == "+") return v.kind() == Value::Kind::kFloat ? v : Value::Int(v.int_value());
  if (v.kind() == Value::Kind::kFloat) return Value::Float(-v.float_value());
  if (v.int_value() == INT64_MIN)
    ThrowRuntime("integer overflow (ints are limited to 64 bits here)");
  return Value::Int(-v.int_value());
}

bool Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;  // iterates as empty
    case Value::Kind::kString:
      if (!item.is_string()) {
        ThrowRuntime(
            absl::StrCat("'in <string>' requires string as left operand, not ", item.TypeName()));
      }
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      for (const Value& v : container.items()) {
        if (PyEquals(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      return item.is_string() && container.dict().Find(item.str()) != nullptr;
    default:
      ThrowRuntime(absl::StrCat("argument of type '", container.TypeName(), "' is not iterable"));
  }
}

Value GetAttr(const Value& obj, std::string_view name) {
  FailIfUndefined(obj);
  // Python's getattr finds a method before a dict key of the same name (`d.items`); the sandbox
  // turns a mutating one into an undefined value that fails when used.
  if (HasMethod(obj, name)) {
    if (IsMutatingMethod(obj, name)) {
      return Value::Undefined(absl::StrCat("access to attribute '", std::string(name), "' of '",
                                           obj.TypeName(), "' object is unsafe."));
    }
    Callable method{Callable::Kind::kMethod,
                    std::string(name),
                    nullptr,
                    {},
                    std::make_shared<const Value>(obj)};
    return Value::MakeCallable(std::move(method));
  }
  const Value* found = nullptr;
  if (obj.is_dict()) found = obj.dict().Find(name);
  if (obj.kind() == Value::Kind::kNamespace) found = obj.namespace_attrs().Find(name);
  if (found != nullptr) return *found;
  return Value::Undefined(
      absl::StrCat("'", ObjectTypeRepr(obj), "' has no attribute '", std::string(name), "'"));
}

Value GetItem(const Value& obj, const Value& key) {
  FailIfUndefined(obj);
  if (key.is_string()) {
    // Subscription looks the key up first, and only then the attribute (a method).
    if (obj.is_dict()) {
      if (const Value* found = obj.dict().Find(key.str())) return *found;
    }
    return GetAttr(obj, key.str());
  }
  if ((obj.is_sequence() || obj.is_string()) && key.is_number() &&
      key.kind() != Value::Kind::kFloat) {
    int64_t i = key.int_value();
    if (obj.is_string()) {
      const std::u32string cps = DecodeUtf8(obj.str());
      const auto n = static_cast<int64_t>(cps.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        std::string out;
        AppendUtf8(cps[static_cast<size_t>(i)], &out);
        return Value::String(std::move(out));
      }
    } else {
      const auto n = static_cast<int64_t>(obj.items().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.items()[static_cast<size_t>(i)];
    }
  }
  return Value::Undefined(absl::StrCat(ObjectTypeRepr(obj), " has no element ", ToPyRepr(key)));
}

Value Slice(const Value& obj, const Value& start, const Value& stop, const Value& step,
            RenderBudget& budget) {
  FailIfUndefined(obj);
  auto bound = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_number() || v.kind() == Value::Kind::kFloat) {
      ThrowRuntime(
          absl::StrCat("slice ", what, " must be an integer or None (got ", v.TypeName(), ")"));
    }
    return v.int_value();
  };
  const int64_t st = bound(step, "step").value_or(1);
  if (st == 0) ThrowRuntime("slice step cannot be zero");
  std::u32string cps;
  int64_t n;
  if (obj.is_string()) {
    cps = DecodeUtf8(obj.str());
    n = static_cast<int64_t>(cps.size());
  } else if (obj.is_sequence()) {
    n = static_cast<int64_t>(obj.items().size());
  } else {
    return Value::Undefined(absl::StrCat("'", ObjectTypeRepr(obj), "' cannot be sliced"));
  }
  // PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= n) {
      x = st < 0 ? n - 1 : n;
    }
    return x;
  };
  const int64_t b = adjust(bound(start, "start"), st < 0 ? n - 1 : 0);
  const int64_t e = adjust(bound(stop, "stop"), st < 0 ? -1 : n);
  std::vector<size_t> picked;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) picked.push_back(static_cast<size_t>(i));
  if (obj.is_string()) {
    std::string out;
    for (size_t i : picked) AppendUtf8(cps[i], &out);
    budget.ChargeString(out.size());
    return Value::String(std::move(out));
  }
  budget.ChargeList(picked.size());
  std::vector<Value> items;
  items.reserve(picked.size());
  for (size_t i : picked) items.push_back(obj.items()[i]);
  return obj.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(items))
                                           : Value::List(std::move(items));
}

std::vector<Value> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return v.items();
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().size());
      for (const auto& [k, e] : v.dict().items()) keys.push_back(Value::String(k));
      return keys;
    }
    case Value::Kind::kString: {
      // Each character becomes a value of its own; bound that as lists are bounded.
      if (v.str().size() > (size_t{1} << 20) && CodePointCount(v.str()) > (size_t{1} << 20)) {
        throw RenderError(
            RenderError::Kind::kLimit,
            "iterating over a string of more than 1048576 characters (sandbox limit)");
      }
      std::vector<Value> chars;
      for (char32_t cp : DecodeUtf8(v.str())) {
        std::string s;
        AppendUtf8(cp, &s);
        chars.push_back(Value::String(std::move(s)));
      }
      return chars;
    }
    default:
      ThrowRuntime(absl::StrCat("'", v.TypeName(), "' object is not iterable"));
  }
}

int64_t PyLen(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return static_cast<int64_t>(CodePointCount(v.str()));
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return static_cast<int64_t>(v.items().size());
    case Value::Kind::kDict:
      return static_cast<int64_t>(v.dict().size());
    default:
      ThrowRuntime(absl::StrCat("object of type '", v.TypeName(), "' has no len()"));
  }
}

std::string PercentFormat(const std::string& format, const Value& args) {
  std::vector<Value> values =
      args.kind() == Value::Kind::kTuple ? args.items() : std::vector<Value>{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (++i >= format.size()) ThrowRuntime("incomplete format");
    // Flags, width and precision, passed on to snprintf for numbers.
    std::string spec = "%";
    while (i < format.size() &&
           std::string_view("-+ 0#.0123456789").find(format[i]) != std::string_view::npos) {
      spec.push_back(format[i++]);
    }
    if (i >= format.size()) ThrowRuntime("incomplete format");
    const char conv = format[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (next >= values.size()) ThrowRuntime("not enough arguments for format string");
    const Value& v = values[next++];
    char buf[512];
    switch (conv) {
      case 's':
        out += ToPyStr(v);
        break;
      case 'r':
        out += ToPyRepr(v);
        break;
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o':
        if (!v.is_number()) {
          ThrowRuntime(absl::StrCat("%", std::string(1, conv),
                                    " format: a real number is required, not ", v.TypeName()));
        }
        std::snprintf(buf, sizeof(buf), (spec + "ll" + (conv == 'i' ? 'd' : conv)).c_str(),
                      static_cast<long long>(v.kind() == Value::Kind::kFloat
                                                 ? static_cast<int64_t>(v.float_value())
                                                 : v.int_value()));
        out += buf;
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        if (!v.is_number()) {
          ThrowRuntime(absl::StrCat("must be real number, not ", v.TypeName()));
        }
        std::snprintf(buf, sizeof(buf), (spec + conv).c_str(), v.float_value());
        out += buf;
        break;
      default:
        ThrowRuntime(absl::StrCat("unsupported format character '", std::string(1, conv), "'"));
    }
  }
  if (next < values.size() && args.kind() == Value::Kind::kTuple) {
    ThrowRuntime("not all arguments converted during string formatting");
  }
  return out;
}

}  // namespace tessera::chat_template
