// Filters (`x | name(args)`), as jinja2 3.1 defines them, with transformers' tojson.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/operators.h"
#include "text/chat_template/py_string.h"
#include "text/chat_template/render_error.h"
#include "utf8proc.h"

namespace tessera::chat_template {
namespace {

bool BoolArg(const CallArgs& args, size_t i, std::string_view name, bool dflt) {
  const Value* v = args.Get(i, name);
  return v == nullptr ? dflt : v->Truthy();
}

Value Str(std::string s, RenderBudget& budget) {
  budget.ChargeString(s.size());
  return Value::String(std::move(s));
}

Value MakeList(std::vector<Value> items, RenderBudget& budget) {
  budget.ChargeList(items.size());
  return Value::List(std::move(items));
}

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0.
Value GetDotted(const Value& item, const Value& attribute) {
  if (!attribute.is_string()) return GetItem(item, attribute);
  Value v = item;
  std::string_view path = attribute.str();
  while (true) {
    const size_t dot = path.find('.');
    const std::string_view part = path.substr(0, dot);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
    int64_t index = 0;
    v = digits && absl::SimpleAtoi(std::string(part), &index) ? GetItem(v, Value::Int(index))
                                                              : GetAttr(v, part);
    if (dot == std::string_view::npos) return v;
    path = path.substr(dot + 1);
  }
}

// For sort/unique/min/max without case sensitivity: strings compare lower-cased.
Value SortKey(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::String(PyLower(v.str()));
  return v;
}

// select / reject / selectattr / rejectattr.
Value SelectOrReject(const Value& seq, const CallArgs& args, bool by_attr, bool select,
                     RenderBudget& budget) {
  size_t next = 0;
  Value attribute;
  if (by_attr) {
    const Value* a = args.Get(next++, "attribute");
    if (a == nullptr) ThrowRuntime("selectattr/rejectattr need an attribute");
    attribute = *a;
  }
  std::string test;
  CallArgs test_args;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string()) ThrowRuntime("the test name must be a string");
    test = args.positional[next++].str();
    test_args.positional.assign(args.positional.begin() + static_cast<long>(next),
                                args.positional.end());
    test_args.keyword = args.keyword;
  }
  std::vector<Value> out;
  for (const Value& item : Iterate(seq)) {
    budget.ChargeIteration();
    const Value subject = by_attr ? GetDotted(item, attribute) : item;
    const bool pass = test.empty() ? subject.Truthy() : ApplyTest(test, subject, test_args);
    if (pass == select) out.push_back(item);
  }
  return MakeList(std::move(out), budget);
}

Value Map(const Value& seq, const CallArgs& args, RenderBudget& budget) {
  std::vector<Value> out;
  const Value* attribute = args.Get(SIZE_MAX, "attribute");
  if (attribute != nullptr) {
    const Value* dflt = args.Get(SIZE_MAX, "default");
    for (const Value& item : Iterate(seq)) {
      budget.ChargeIteration();
      Value v = GetDotted(item, *attribute);
      out.push_back(v.is_undefined() && dflt != nullptr ? *dflt : v);
    }
    return MakeList(std::move(out), budget);
  }
  if (args.positional.empty() || !args.positional[0].is_string()) {
    ThrowRuntime("map needs a filter name or attribute=");
  }
  CallArgs filter_args;
  filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
  filter_args.keyword = args.keyword;
  for (const Value& item : Iterate(seq)) {
    budget.ChargeIteration();
    out.push_back(ApplyFilter(args.positional[0].str(), item, filter_args, budget));
  }
  return MakeList(std::move(out), budget);
}

Value ToJson(const Value& v, const CallArgs& args, RenderBudget& budget) {
  args.Check("tojson", 4, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions options;
  options.ensure_ascii = BoolArg(args, 0, "ensure_ascii", false);
  if (const Value* indent = args.Get(1, "indent"); indent != nullptr && !indent->is_none()) {
    if (indent->is_string()) {
      options.indent = indent->str();
    } else if (indent->is_number() && indent->kind() != Value::Kind::kFloat) {
      const int64_t n = std::clamp<int64_t>(indent->int_value(), 0, 1024);
      options.indent = std::string(static_cast<size_t>(n), ' ');
    } else {
      ThrowRuntime(
          absl::StrCat("tojson: indent must be an int or a string, not ", indent->TypeName()));
    }
  }
  if (const Value* sep = args.Get(2, "separators"); sep != nullptr && !sep->is_none()) {
    if (!sep->is_sequence() || sep->items().size() != 2 || !sep->items()[0].is_string() ||
        !sep->items()[1].is_string()) {
      ThrowRuntime("tojson: separators must be a pair of strings");
    }
    options.separators.emplace(sep->items()[0].str(), sep->items()[1].str());
  }
  options.sort_keys = BoolArg(args, 3, "sort_keys", false);
  options.max_bytes = budget.limits().max_output_bytes;
  return Str(PyJsonDumps(v, options), budget);
}

Value Indent(const Value& v, const CallArgs& args, RenderBudget& budget) {
  args.Check("indent", 3, {"width", "first", "blank"});
  std::string indention = "    ";
  if (const Value* w = args.Get(0, "width"); w != nullptr) {
    if (w->is_string()) {
      indention = w->str();
    } else if (w->is_number() && w->kind() != Value::Kind::kFloat) {
      indention =
          std::string(static_cast<size_t>(std::clamp<int64_t>(w->int_value(), 0, 1024)), ' ');
    } else {
      ThrowRuntime("indent: width must be an int or a string");
    }
  }
  const bool first = BoolArg(args, 1, "first", false);
  const bool blank = BoolArg(args, 2, "blank", false);
  const std::vector<std::string> lines = PySplitLines(ToPyStr(v) + "\n");
  budget.ChargeString(ToPyStr(v).size() + lines.size() * indention.size());
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += "\n";
      if (blank || !lines[i].empty()) out += indention;
    }
    out += lines[i];
  }
  if (first) out = indention + out;
  return Str(std::move(out), budget);
}

Value Round(const Value& v, const CallArgs& args) {
  args.Check("round", 2, {"precision", "method"});
  if (!v.is_number()) ThrowRuntime(absl::StrCat("round: a number is required, not ", v.TypeName()));
  const Value* p = args.Get(0, "precision");
  const int64_t precision = p == nullptr ? 0 : p->int_value();
  const Value* m = args.Get(1, "method");
  const std::string method = m == nullptr ? "common" : ToPyStr(*m);
  const double x = v.float_value();
  if (method == "common") {
    // Python's round(): correctly rounded, ties to even, as printf does.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f",
                  static_cast<int>(std::clamp<int64_t>(precision, 0, 300)), x);
    return Value::Float(std::strtod(buf, nullptr));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (method == "ceil") return Value::Float(std::ceil(x * scale) / scale);
  if (method == "floor") return Value::Float(std::floor(x * scale) / scale);
  ThrowRuntime("method must be common, ceil or floor");
}

Value ToInt(const Value& v, const CallArgs& args) {
  const Value* d = args.Get(0, "default");
  const Value dflt = d == nullptr ? Value::Int(0) : *d;
  const Value* b = args.Get(1, "base");
  const int base = b == nullptr ? 10 : static_cast<int>(b->int_value());
  if (v.is_number()) {
    if (v.kind() != Value::Kind::kFloat) return Value::Int(v.int_value());
    const double f = v.float_value();
    if (!std::isfinite(f) || std::fabs(f) > 9.2e18) return dflt;
    return Value::Int(static_cast<int64_t>(f));
  }
  if (v.is_string()) {
    const std::string s = PyStrip(v.str(), std::nullopt, StripSide::kBoth);
    std::string digits;
    for (char c : s) {
      if (c != '_') digits.push_back(c);
    }
    errno = 0;
    char* end = nullptr;
    const long long i = std::strtoll(digits.c_str(), &end, base);
    if (!digits.empty() && errno == 0 && end == digits.c_str() + digits.size())
      return Value::Int(i);
    char* fend = nullptr;
    const double f = std::strtod(s.c_str(), &fend);
    if (!s.empty() && fend == s.c_str() + s.size() && std::isfinite(f) && std::fabs(f) < 9.2e18) {
      return Value::Int(static_cast<int64_t>(f));
    }
  }
  return dflt;
}

Value ToFloat(const Value& v, const CallArgs& args) {
  const Value* d = args.Get(0, "default");
  if (v.is_number()) return Value::Float(v.float_value());
  if (v.is_string()) {
    const std::string s = PyStrip(v.str(), std::nullopt, StripSide::kBoth);
    char* end = nullptr;
    const double f = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return Value::Float(f);
  }
  return d == nullptr ? Value::Float(0.0) : *d;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

int64_t WordCount(const std::string& s) {
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : DecodeUtf8(s)) {
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    const bool word = c == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO);
    if (word && !in_word) ++n;
    in_word = word;
  }
  return n;
}

Value Sorted(const Value& seq, const CallArgs& args, RenderBudget& budget) {
  args.Check("sort", 3, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = BoolArg(args, 0, "reverse", false);
  const bool case_sensitive = BoolArg(args, 1, "case_sensitive", false);
  const Value* attribute = args.Get(2, "attribute");
  std::vector<Value> items = Iterate(seq);
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& v : items) {
    keyed.emplace_back(SortKey(attribute ? GetDotted(v, *attribute) : v, case_sensitive), v);
  }
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? PyLess(b.first, a.first) : PyLess(a.first, b.first);
  });
  std::vector<Value> out;
  for (auto& [k, v] : keyed) out.push_back(std::move(v));
  return MakeList(std::move(out), budget);
}

Value MinMax(const Value& seq, const CallArgs& args, bool max) {
  args.Check(max ? "max" : "min", 2, {"case_sensitive", "attribute"});
  const bool case_sensitive = BoolArg(args, 0, "case_sensitive", false);
  const Value* attribute = args.Get(1, "attribute");
  std::optional<Value> best, best_key;
  for (const Value& v : Iterate(seq)) {
    Value key = SortKey(attribute ? GetDotted(v, *attribute) : v, case_sensitive);
    if (!best || (max ? PyLess(*best_key, key) : PyLess(key, *best_key))) {
      best = v;
      best_key = key;
    }
  }
  if (!best) return Value::Undefined("No aggregated item, sequence was empty.");
  return *best;
}

constexpr std::string_view kFilters[] = {
    "tojson", "length",     "count",      "trim",      "string", "items",       "list",
    "join",   "selectattr", "rejectattr", "select",    "reject", "map",         "indent",
    "first",  "last",       "default",    "d",         "upper",  "lower",       "capitalize",
    "title",  "replace",    "safe",       "escape",    "e",      "forceescape", "int",
    "float",  "abs",        "round",      "sort",      "unique", "reverse",     "sum",
    "min",    "max",        "dictsort",   "wordcount", "format"};

}  // namespace

bool HasFilter(std::string_view name) {
  return std::find(std::begin(kFilters), std::end(kFilters), name) != std::end(kFilters);
}

Value ApplyFilter(std::string_view name, const Value& v, const CallArgs& args,
                  RenderBudget& budget) {
  if (name == "tojson") return ToJson(v, args, budget);
  if (name == "length" || name == "count") return Value::Int(PyLen(v));
  if (name == "trim") {
    const Value* chars = args.Get(0, "chars");
    std::optional<std::string> set;
    if (chars != nullptr && !chars->is_none()) set = ToPyStr(*chars);
    return Str(PyStrip(ToPyStr(v), set, StripSide::kBoth), budget);
  }
  if (name == "string") return Str(ToPyStr(v), budget);
  if (name == "items") {
    if (v.is_undefined()) return Value::List({});
    if (!v.is_dict()) ThrowRuntime("Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto& [k, e] : v.dict().items()) out.push_back(Value::Tuple({Value::String(k), e}));
    return MakeList(std::move(out), budget);
  }
  if (name == "list") return MakeList(Iterate(v), budget);
  if (name == "join") {
    args.Check("join", 2, {"d", "attribute"});
    const Value* d = args.Get(0, "d");
    const std::string sep = d == nullptr ? "" : ToPyStr(*d);
    const Value* attribute = args.Get(1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& item : Iterate(v)) {
      if (!first) out += sep;
      first = false;
      out += ToPyStr(attribute ? GetDotted(item, *attribute) : item);
      budget.CheckStringSize(out.size());
    }
    return Str(std::move(out), budget);
  }
  if (name == "selectattr" || name == "rejectattr") {
    return SelectOrReject(v, args, true, name == "selectattr", budget);
  }
  if (name == "select" || name == "reject") {
    return SelectOrReject(v, args, false, name == "select", budget);
  }
  if (name == "map") return Map(v, args, budget);
  if (name == "indent") return Indent(v, args, budget);
  if (name == "first" || name == "last") {
    const std::vector<Value> items = Iterate(v);
    if (items.empty())
      return Value::Undefined(absl::StrCat("No ", std::string(name), " item, sequence was empty."));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "default" || name == "d") {
    const Value* d = args.Get(0, "default_value");
    const bool boolean = BoolArg(args, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !v.Truthy())) return d == nullptr ? Value::String("") : *d;
    return v;
  }
  if (name == "upper") return Str(PyUpper(ToPyStr(v)), budget);
  if (name == "lower") return Str(PyLower(ToPyStr(v)), budget);
  if (name == "capitalize") return Str(PyCapitalize(ToPyStr(v)), budget);
  if (name == "title") return Str(JinjaTitle(ToPyStr(v)), budget);
  if (name == "replace") {
    CallArgs method_args = args;
    return *CallMethod(Value::String(ToPyStr(v)), "replace", method_args, budget);
  }
  if (name == "safe") return v;
  if (name == "escape" || name == "e" || name == "forceescape") {
    return Str(HtmlEscape(ToPyStr(v)), budget);
  }
  if (name == "int") return ToInt(v, args);
  if (name == "float") return ToFloat(v, args);
  if (name == "abs") {
    if (!v.is_number())
      ThrowRuntime(absl::StrCat("bad operand type for abs(): '", v.TypeName(), "'"));
    return v.kind() == Value::Kind::kFloat ? Value::Float(std::fabs(v.float_value()))
                                           : UnaryOp(v.int_value() < 0 ? "-" : "+", v);
  }
  if (name == "round") return Round(v, args);
  if (name == "sort") return Sorted(v, args, budget);
  if (name == "unique") {
    args.Check("unique", 2, {"case_sensitive", "attribute"});
    const bool case_sensitive = BoolArg(args, 0, "case_sensitive", false);
    const Value* attribute = args.Get(1, "attribute");
    std::vector<Value> out, seen;
    for (const Value& item : Iterate(v)) {
      budget.ChargeIteration();
      Value key = SortKey(attribute ? GetDotted(item, *attribute) : item, case_sensitive);
      if (std::none_of(seen.begin(), seen.end(),
                       [&](const Value& s) { return PyEquals(s, key); })) {
        seen.push_back(std::move(key));
        out.push_back(item);
      }
    }
    return MakeList(std::move(out), budget);
  }
  if (name == "reverse") {
    if (v.is_string()) {
      std::u32string cps = DecodeUtf8(v.str());
      std::reverse(cps.begin(), cps.end());
      return Value::String(EncodeUtf8(cps));
    }
    std::vector<Value> items = Iterate(v);
    std::reverse(items.begin(), items.end());
    return MakeList(std::move(items), budget);
  }
  if (name == "sum") {
    args.Check("sum", 2, {"attribute", "start"});
    const Value* attribute = args.Get(0, "attribute");
    const Value* start = args.Get(1, "start");
    Value total = start == nullptr ? Value::Int(0) : *start;
    for (const Value& item : Iterate(v)) {
      total = BinaryOp("+", total, attribute ? GetDotted(item, *attribute) : item, budget);
    }
    return total;
  }
  if (name == "min" || name == "max") return MinMax(v, args, name == "max");
  if (name == "dictsort") {
    args.Check("dictsort", 3, {"case_sensitive", "by", "reverse"});
    if (!v.is_dict()) ThrowRuntime("You can only sort by either \"key\" or \"value\"");
    const bool case_sensitive = BoolArg(args, 0, "case_sensitive", false);
    const Value* by = args.Get(1, "by");
    const bool by_value = by != nullptr && ToPyStr(*by) == "value";
    const bool reverse = BoolArg(args, 2, "reverse", false);
    std::vector<Value> pairs;
    for (const auto& [k, e] : v.dict().items())
      pairs.push_back(Value::Tuple({Value::String(k), e}));
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& a, const Value& b) {
      const Value ka = SortKey(a.items()[by_value ? 1 : 0], case_sensitive);
      const Value kb = SortKey(b.items()[by_value ? 1 : 0], case_sensitive);
      return reverse ? PyLess(kb, ka) : PyLess(ka, kb);
    });
    return MakeList(std::move(pairs), budget);
  }
  if (name == "wordcount") return Value::Int(WordCount(ToPyStr(v)));
  if (name == "format") {
    if (!args.keyword.empty()) ThrowRuntime("format: keyword arguments are not supported here");
    return Str(PercentFormat(ToPyStr(v), Value::Tuple(args.positional)), budget);
  }
  ThrowRuntime(absl::StrCat("No filter named '", std::string(name), "'."));
}

}  // namespace tessera::chat_template
