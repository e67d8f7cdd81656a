// Methods of Python's str, dict, list and tuple that templates call (`s.strip()`,
// `d.items()`), and the sandbox's refusal of the mutating ones.
#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/operators.h"
#include "text/chat_template/py_string.h"
#include "text/chat_template/render_error.h"
#include "utf8proc.h"

namespace tessera::chat_template {
namespace {

std::optional<std::string> OptString(const CallArgs& args, size_t i, std::string_view name,
                                     std::string_view method) {
  const Value* v = args.Get(i, name);
  if (v == nullptr || v->is_none()) return std::nullopt;
  if (!v->is_string()) {
    ThrowRuntime(
        absl::StrCat(std::string(method), " arg must be None or str, not ", v->TypeName()));
  }
  return v->str();
}

const std::string& RequireString(const CallArgs& args, size_t i, std::string_view name,
                                 std::string_view method) {
  const Value* v = args.Get(i, name);
  if (v == nullptr)
    ThrowRuntime(absl::StrCat(std::string(method), "() missing required argument '",
                              std::string(name), "'"));
  if (!v->is_string()) {
    ThrowRuntime(absl::StrCat(std::string(method), "() argument must be str, not ", v->TypeName()));
  }
  return v->str();
}

int64_t OptInt(const CallArgs& args, size_t i, std::string_view name, int64_t dflt) {
  const Value* v = args.Get(i, name);
  if (v == nullptr || v->is_none()) return dflt;
  if (!v->is_number() || v->kind() == Value::Kind::kFloat) {
    ThrowRuntime(absl::StrCat("'", v->TypeName(), "' object cannot be interpreted as an integer"));
  }
  return v->int_value();
}

// startswith/endswith take a string or a tuple of strings.
bool AffixMatch(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) {
      ThrowRuntime(absl::StrCat(prefix ? "startswith" : "endswith",
                                " first arg must be str or a tuple of str, not ", a.TypeName()));
    }
    const std::string& x = a.str();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0
                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.kind() == Value::Kind::kTuple) {
    return std::any_of(affix.items().begin(), affix.items().end(), one);
  }
  return one(affix);
}

std::string PyTitle(std::string_view s) {
  std::u32string cps = DecodeUtf8(s);
  bool prev_cased = false;
  for (char32_t& c : cps) {
    const auto cp = static_cast<utf8proc_int32_t>(c);
    const auto cat = utf8proc_category(cp);
    const bool cased =
        cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
    c = static_cast<char32_t>(prev_cased ? utf8proc_tolower(cp) : utf8proc_totitle(cp));
    prev_cased = cased;
  }
  return EncodeUtf8(cps);
}

bool AllChars(std::string_view s, bool (*pred)(char32_t)) {
  const std::u32string cps = DecodeUtf8(s);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

// str.format with automatic ({}), numbered ({0}) and named ({name}) fields; no format specs.
std::string PyStrFormat(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') ++i;
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) ThrowRuntime("Single '{' encountered in format string");
    const std::string field = fmt.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) {
      ThrowRuntime("str.format: format specs and conversions are not supported here");
    }
    const Value* v = nullptr;
    if (field.empty()) {
      v = args.Get(auto_index++, "");
    } else if (std::all_of(field.begin(), field.end(),
                           [](char d) { return d >= '0' && d <= '9'; })) {
      size_t index = 0;
      v = absl::SimpleAtoi(field, &index) ? args.Get(index, "") : nullptr;
    } else {
      v = args.Get(SIZE_MAX, field);
    }
    if (v == nullptr) ThrowRuntime(absl::StrCat("str.format: no argument for {", field, "}"));
    out += ToPyStr(*v);
    i = close;
  }
  return out;
}

Value StringList(const std::vector<std::string>& parts, RenderBudget& budget) {
  budget.ChargeList(parts.size());
  std::vector<Value> items;
  items.reserve(parts.size());
  for (const auto& p : parts) items.push_back(Value::String(p));
  return Value::List(std::move(items));
}

std::optional<Value> StringMethod(const std::string& s, std::string_view name, const CallArgs& args,
                                  RenderBudget& budget) {
  auto str = [&](std::string r) {
    budget.ChargeString(r.size());
    return Value::String(std::move(r));
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const StripSide side = name == "strip"    ? StripSide::kBoth
                           : name == "lstrip" ? StripSide::kLeft
                                              : StripSide::kRight;
    return str(PyStrip(s, OptString(args, 0, "chars", name), side));
  }
  if (name == "split" || name == "rsplit") {
    const std::optional<std::string> sep = OptString(args, 0, "sep", name);
    if (sep && sep->empty()) ThrowRuntime("empty separator");
    return StringList(
        PySplit(s, sep, static_cast<int>(OptInt(args, 1, "maxsplit", -1)), name == "rsplit"),
        budget);
  }
  if (name == "splitlines") return StringList(PySplitLines(s), budget);
  if (name == "startswith" || name == "endswith") {
    const Value* affix = args.Get(0, "prefix");
    if (affix == nullptr)
      ThrowRuntime(absl::StrCat(std::string(name), "() takes at least 1 argument (0 given)"));
    return Value::Bool(AffixMatch(s, *affix, name == "startswith"));
  }
  if (name == "replace") {
    const std::string& old = RequireString(args, 0, "old", name);
    const std::string& rep = RequireString(args, 1, "new", name);
    const int64_t count = OptInt(args, 2, "count", -1);
    // Bound the result before building it: each replacement adds at most rep.size() bytes.
    const size_t hits = old.empty() ? CodePointCount(s) + 1 : s.size() / old.size() + 1;
    if (rep.size() > old.size()) budget.ChargeString(s.size() + hits * (rep.size() - old.size()));
    return str(PyReplace(s, old, rep, count));
  }
  if (name == "upper") return str(PyUpper(s));
  if (name == "lower") return str(PyLower(s));
  if (name == "title") return str(PyTitle(s));
  if (name == "capitalize") return str(PyCapitalize(s));
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    const std::string& sub = RequireString(args, 0, "sub", name);
    const bool right = name[0] == 'r';
    const size_t at = right ? s.rfind(sub) : s.find(sub);
    if (at == std::string::npos) {
      if (name == "index" || name == "rindex") ThrowRuntime("substring not found");
      return Value::Int(-1);
    }
    return Value::Int(static_cast<int64_t>(CodePointCount(std::string_view(s).substr(0, at))));
  }
  if (name == "count") {
    const std::string& sub = RequireString(args, 0, "sub", name);
    if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(s)) + 1);
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::Int(n);
  }
  if (name == "join") {
    const Value* seq = args.Get(0, "iterable");
    if (seq == nullptr) ThrowRuntime("join() takes exactly one argument (0 given)");
    std::string out;
    bool first = true;
    for (const Value& v : Iterate(*seq)) {
      if (!v.is_string()) {
        ThrowRuntime(
            absl::StrCat("sequence item: expected str instance, ", v.TypeName(), " found"));
      }
      if (!first) out += s;
      first = false;
      out += v.str();
      budget.CheckStringSize(out.size());
    }
    return str(std::move(out));
  }
  if (name == "format") {
    std::string out = PyStrFormat(s, args);
    return str(std::move(out));
  }
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") {
    return Value::Bool(AllChars(s, [](char32_t c) {
      return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ND;
    }));
  }
  if (name == "isalpha") {
    return Value::Bool(AllChars(s, [](char32_t c) {
      const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
      return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
    }));
  }
  if (name == "isalnum") {
    return Value::Bool(AllChars(s, [](char32_t c) {
      const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
      return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
             cat == UTF8PROC_CATEGORY_ND;
    }));
  }
  if (name == "isspace") return Value::Bool(AllChars(s, IsPySpace));
  if (name == "islower" || name == "isupper") {
    const std::string lower = PyLower(s), upper = PyUpper(s);
    if (lower == upper) return Value::Bool(false);
    return Value::Bool(name == "islower" ? lower == s : upper == s);
  }
  return std::nullopt;
}

std::optional<Value> DictMethod(const Value& obj, std::string_view name, const CallArgs& args,
                                RenderBudget& budget) {
  const Dict& d = obj.dict();
  if (name == "items" || name == "keys" || name == "values") {
    budget.ChargeList(d.size());
    std::vector<Value> out;
    out.reserve(d.size());
    for (const auto& [k, v] : d.items()) {
      if (name == "items") {
        out.push_back(Value::Tuple({Value::String(k), v}));
      } else {
        out.push_back(name == "keys" ? Value::String(k) : v);
      }
    }
    return Value::List(std::move(out));
  }
  if (name == "copy") return obj;  // immutable: the copy is the same value
  if (name == "get") {
    const Value* key = args.Get(0, "key");
    if (key == nullptr) ThrowRuntime("get expected at least 1 argument, got 0");
    const Value* found = key->is_string() ? d.Find(key->str()) : nullptr;
    if (found != nullptr) return *found;
    const Value* dflt = args.Get(1, "default");
    return dflt != nullptr ? *dflt : Value::None();
  }
  return std::nullopt;
}

}  // namespace

bool IsMutatingMethod(const Value& obj, std::string_view name) {
  static constexpr std::string_view kList[] = {"append", "extend", "insert", "pop",
                                               "remove", "clear",  "sort",   "reverse"};
  static constexpr std::string_view kDict[] = {"update", "pop", "popitem", "setdefault", "clear"};
  if (obj.kind() == Value::Kind::kList) {
    return std::find(std::begin(kList), std::end(kList), name) != std::end(kList);
  }
  if (obj.is_dict()) return std::find(std::begin(kDict), std::end(kDict), name) != std::end(kDict);
  return false;
}

bool HasMethod(const Value& obj, std::string_view name) {
  static constexpr std::string_view kStr[] = {
      "strip",     "lstrip",    "rstrip",  "split",   "rsplit",  "splitlines", "startswith",
      "endswith",  "replace",   "upper",   "lower",   "title",   "capitalize", "find",
      "rfind",     "index",     "rindex",  "count",   "join",    "format",     "isdigit",
      "isnumeric", "isdecimal", "isalpha", "isalnum", "isspace", "islower",    "isupper"};
  static constexpr std::string_view kDict[] = {"items", "keys", "values", "get", "copy"};
  static constexpr std::string_view kSeq[] = {"index", "count"};
  auto in = [name](const auto& list) {
    return std::find(std::begin(list), std::end(list), name) != std::end(list);
  };
  if (IsMutatingMethod(obj, name)) return true;
  if (obj.is_string()) return in(kStr);
  if (obj.is_dict()) return in(kDict);
  if (obj.is_sequence()) return in(kSeq);
  return false;
}

std::optional<Value> CallMethod(const Value& obj, std::string_view name, const CallArgs& args,
                                RenderBudget& budget) {
  if (IsMutatingMethod(obj, name)) {
    ThrowRuntime(absl::StrCat("access to attribute '", std::string(name), "' of '", obj.TypeName(),
                              "' object is unsafe."));
  }
  if (obj.is_string()) return StringMethod(obj.str(), name, args, budget);
  if (obj.is_dict()) return DictMethod(obj, name, args, budget);
  if (obj.is_sequence() && (name == "index" || name == "count")) {
    const Value* x = args.Get(0, "value");
    if (x == nullptr)
      ThrowRuntime(absl::StrCat(std::string(name), "() takes exactly one argument (0 given)"));
    int64_t count = 0;
    for (size_t i = 0; i < obj.items().size(); ++i) {
      if (!PyEquals(obj.items()[i], *x)) continue;
      if (name == "index") return Value::Int(static_cast<int64_t>(i));
      ++count;
    }
    if (name == "index") ThrowRuntime(absl::StrCat(ToPyRepr(*x), " is not in list"));
    return Value::Int(count);
  }
  return std::nullopt;
}

const Value* CallArgs::Get(size_t i, std::string_view name) const {
  if (i < positional.size()) return &positional[i];
  for (const auto& [k, v] : keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

void CallArgs::Check(std::string_view fn, size_t n,
                     std::initializer_list<std::string_view> known) const {
  if (positional.size() > n) {
    ThrowRuntime(absl::StrCat(std::string(fn), "() takes at most ", n, " argument(s) (",
                              positional.size(), " given)"));
  }
  for (const auto& [k, v] : keyword) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      ThrowRuntime(
          absl::StrCat(std::string(fn), "() got an unexpected keyword argument '", k, "'"));
    }
  }
}

}  // namespace tessera::chat_template
