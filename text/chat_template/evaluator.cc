#include "text/chat_template/evaluator.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "text/chat_template/operators.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {
namespace {

// jinja2's sandbox refuses larger ranges (MAX_RANGE).
constexpr int64_t kMaxRange = 100000;

Value LoopInfo(size_t i, const std::vector<Value>& items) {
  const auto n = static_cast<int64_t>(items.size());
  const auto k = static_cast<int64_t>(i);
  Dict loop;
  loop.Set("index", Value::Int(k + 1));
  loop.Set("index0", Value::Int(k));
  loop.Set("revindex", Value::Int(n - k));
  loop.Set("revindex0", Value::Int(n - k - 1));
  loop.Set("first", Value::Bool(k == 0));
  loop.Set("last", Value::Bool(k == n - 1));
  loop.Set("length", Value::Int(n));
  loop.Set("depth", Value::Int(1));
  loop.Set("depth0", Value::Int(0));
  if (i > 0) loop.Set("previtem", items[i - 1]);
  if (i + 1 < items.size()) loop.Set("nextitem", items[i + 1]);
  return Value::MakeDict(std::move(loop));
}

}  // namespace

Evaluator::FrameGuard::FrameGuard(Evaluator* e) : evaluator_(e) {
  // Each level costs a few hundred bytes of stack; 2000 stays far inside a thread's 8 MiB.
  constexpr int kMaxDepth = 2000;
  if (++evaluator_->depth_ > kMaxDepth) {
    --evaluator_->depth_;
    throw RenderError(RenderError::Kind::kLimit, absl::StrCat("evaluation nested deeper than ",
                                                              kMaxDepth, " (sandbox limit)"));
  }
}

std::string Evaluator::Render(const Body& body, const Dict& variables) {
  globals_ = std::make_shared<Scope>(nullptr);
  auto global = [this](const char* name, Callable::Kind kind) {
    globals_->vars.Set(name, Value::MakeCallable(Callable{kind, name, nullptr, {}, nullptr}));
  };
  global("raise_exception", Callable::Kind::kRaiseException);
  global("strftime_now", Callable::Kind::kStrftimeNow);
  global("namespace", Callable::Kind::kNamespace);
  global("range", Callable::Kind::kRange);
  global("dict", Callable::Kind::kDict);
  auto root = std::make_shared<Scope>(globals_);
  for (const auto& [k, v] : variables.items()) root->vars.Set(k, v);
  std::string out;
  ExecBody(body, root, &out);
  return out;
}

void Evaluator::Append(std::string* out, std::string_view s) {
  if (out->size() + s.size() > budget_->limits().max_output_bytes) {
    throw RenderError(RenderError::Kind::kLimit,
                      absl::StrCat("output exceeds ", budget_->limits().max_output_bytes,
                                   " bytes (sandbox limit)"));
  }
  budget_->ChargeString(s.size());
  out->append(s);
}

Evaluator::Flow Evaluator::ExecBody(const Body& body, const ScopePtr& scope, std::string* out) {
  for (const StmtPtr& s : body) {
    const Flow flow = Exec(*s, scope, out);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Evaluator::Flow Evaluator::Exec(const Stmt& s, const ScopePtr& scope, std::string* out) {
  FrameGuard guard(this);
  try {
    switch (s.kind) {
      case Stmt::Kind::kText:
        Append(out, s.text);
        return Flow::kNormal;
      case Stmt::Kind::kOutput:
        Append(out, ToPyStr(Eval(*s.expr, scope), budget_->limits().max_output_bytes));
        return Flow::kNormal;
      case Stmt::Kind::kIf:
        for (size_t i = 0; i < s.conditions.size(); ++i) {
          if (Eval(*s.conditions[i], scope).Truthy()) return ExecBody(s.bodies[i], scope, out);
        }
        return ExecBody(s.else_body, scope, out);
      case Stmt::Kind::kFor:
        return ExecFor(s, scope, out);
      case Stmt::Kind::kSet:
        Assign(s.target, Eval(*s.expr, scope), scope);
        return Flow::kNormal;
      case Stmt::Kind::kSetBlock: {
        std::string captured;
        ExecBody(s.bodies[0], std::make_shared<Scope>(scope), &captured);
        Value v = Value::String(std::move(captured));
        if (s.filter) v = EvalFilter(*s.filter, scope, &v);
        Assign(s.target, v, scope);
        return Flow::kNormal;
      }
      case Stmt::Kind::kMacro: {
        Callable macro{Callable::Kind::kMacro, s.macro->name, s.macro.get(), scope, nullptr};
        scope->vars.Set(s.macro->name, Value::MakeCallable(std::move(macro)));
        return Flow::kNormal;
      }
      case Stmt::Kind::kBreak:
        return Flow::kBreak;
      case Stmt::Kind::kContinue:
        return Flow::kContinue;
      case Stmt::Kind::kScope: {
        auto inner = std::make_shared<Scope>(scope);
        for (const auto& [target, expr] : s.assignments) Assign(target, Eval(*expr, scope), inner);
        return ExecBody(s.bodies[0], inner, out);
      }
      case Stmt::Kind::kFilterBlock: {
        std::string captured;
        ExecBody(s.bodies[0], std::make_shared<Scope>(scope), &captured);
        const Value v = Value::String(std::move(captured));
        Append(out, ToPyStr(EvalFilter(*s.filter, scope, &v)));
        return Flow::kNormal;
      }
    }
  } catch (RenderError& e) {
    if (e.line() == 0) e.set_line(s.line);
    throw;
  }
  return Flow::kNormal;
}

Evaluator::Flow Evaluator::ExecFor(const Stmt& s, const ScopePtr& scope, std::string* out) {
  std::vector<Value> items = Iterate(Eval(*s.expr, scope));
  if (s.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      budget_->ChargeIteration();
      auto inner = std::make_shared<Scope>(scope);
      Assign(s.target, item, inner);
      if (Eval(*s.filter, inner).Truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return ExecBody(s.else_body, std::make_shared<Scope>(scope), out);
  for (size_t i = 0; i < items.size(); ++i) {
    budget_->ChargeIteration();
    auto inner = std::make_shared<Scope>(scope);
    Assign(s.target, items[i], inner);
    inner->vars.Set("loop", LoopInfo(i, items));
    if (ExecBody(s.bodies[0], inner, out) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Evaluator::Assign(const Target& target, const Value& v, const ScopePtr& scope) {
  if (!target.attr.empty()) {
    const Value ns = Lookup(target.names[0], scope);
    if (ns.kind() != Value::Kind::kNamespace) {
      ThrowRuntime("cannot assign attribute on non-namespace object");
    }
    if (v.refers_to_state())
      ThrowRuntime("a namespace cannot hold a namespace or a macro (sandbox)");
    ns.namespace_attrs().Set(target.attr, v);
    return;
  }
  if (target.names.size() == 1) {
    scope->vars.Set(target.names[0], v);
    return;
  }
  const std::vector<Value> parts = Iterate(v);
  if (parts.size() != target.names.size()) {
    ThrowRuntime(
        parts.size() > target.names.size()
            ? absl::StrCat("too many values to unpack (expected ", target.names.size(), ")")
            : absl::StrCat("not enough values to unpack (expected ", target.names.size(), ", got ",
                           parts.size(), ")"));
  }
  for (size_t i = 0; i < parts.size(); ++i) scope->vars.Set(target.names[i], parts[i]);
}

Value Evaluator::Lookup(const std::string& name, const ScopePtr& scope) const {
  for (const Scope* s = scope.get(); s != nullptr; s = s->parent.get()) {
    if (const Value* v = s->vars.Find(name)) return *v;
  }
  return Value::Undefined(absl::StrCat("'", name, "' is undefined"));
}

Value Evaluator::Eval(const Expr& e, const ScopePtr& scope) {
  FrameGuard guard(this);
  try {
    return EvalNode(e, scope);
  } catch (RenderError& err) {
    if (err.line() == 0) err.set_line(e.line);
    throw;
  }
}

Value Evaluator::EvalNode(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case Expr::Kind::kLiteral:
      return e.literal;
    case Expr::Kind::kName:
      return Lookup(e.name, scope);
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      budget_->ChargeList(e.children.size());
      std::vector<Value> items;
      items.reserve(e.children.size());
      for (const ExprPtr& c : e.children) items.push_back(Eval(*c, scope));
      return e.kind == Expr::Kind::kList ? Value::List(std::move(items))
                                         : Value::Tuple(std::move(items));
    }
    case Expr::Kind::kDict: {
      budget_->ChargeList(e.children.size());
      Dict d;
      for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
        const Value key = Eval(*e.children[i], scope);
        if (!key.is_string()) {
          ThrowRuntime(absl::StrCat("dict keys must be strings here, not ", key.TypeName()));
        }
        d.Set(key.str(), Eval(*e.children[i + 1], scope));
      }
      return Value::MakeDict(std::move(d));
    }
    case Expr::Kind::kGetAttr:
      return GetAttr(Eval(*e.children[0], scope), e.name);
    case Expr::Kind::kGetItem: {
      const Value obj = Eval(*e.children[0], scope);
      return GetItem(obj, Eval(*e.children[1], scope));
    }
    case Expr::Kind::kSlice: {
      const Value obj = Eval(*e.children[0], scope);
      auto bound = [&](const ExprPtr& b) { return b ? Eval(*b, scope) : Value::None(); };
      const Value start = bound(e.children[1]);
      const Value stop = bound(e.children[2]);
      return Slice(obj, start, stop, bound(e.children[3]), *budget_);
    }
    case Expr::Kind::kCall:
      return EvalCall(e, scope);
    case Expr::Kind::kFilter:
      return EvalFilter(e, scope, nullptr);
    case Expr::Kind::kTest: {
      const Value v = Eval(*e.children[0], scope);
      const CallArgs args = EvalArgs(e, scope, 1);
      return Value::Bool(ApplyTest(e.name, v, args) != e.negated);
    }
    case Expr::Kind::kUnary: {
      const Value v = Eval(*e.children[0], scope);
      if (e.name == "not") return Value::Bool(!v.Truthy());
      return UnaryOp(e.name, v);
    }
    case Expr::Kind::kBinary: {
      const Value a = Eval(*e.children[0], scope);
      return BinaryOp(e.name, a, Eval(*e.children[1], scope), *budget_);
    }
    case Expr::Kind::kAnd: {
      Value a = Eval(*e.children[0], scope);
      return a.Truthy() ? Eval(*e.children[1], scope) : a;
    }
    case Expr::Kind::kOr: {
      Value a = Eval(*e.children[0], scope);
      return a.Truthy() ? a : Eval(*e.children[1], scope);
    }
    case Expr::Kind::kCompare: {
      Value left = Eval(*e.children[0], scope);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = Eval(*e.children[i + 1], scope);
        const std::string& op = e.ops[i];
        bool ok;
        if (op == "==") {
          ok = PyEquals(left, right);
        } else if (op == "!=") {
          ok = !PyEquals(left, right);
        } else if (op == "<") {
          ok = PyLess(left, right);
        } else if (op == ">") {
          ok = PyLess(right, left);
        } else if (op == "<=") {
          ok = !PyLess(right, left);
        } else if (op == ">=") {
          ok = !PyLess(left, right);
        } else if (op == "in") {
          ok = Contains(right, left);
        } else {
          ok = !Contains(right, left);
        }
        if (!ok) return Value::Bool(false);
        left = std::move(right);
      }
      return Value::Bool(true);
    }
    case Expr::Kind::kCondExpr:
      if (Eval(*e.children[0], scope).Truthy()) return Eval(*e.children[1], scope);
      if (e.children[2]) return Eval(*e.children[2], scope);
      return Value::Undefined(absl::StrCat("the inline if-expression on line ", e.line,
                                           " evaluated to false and no else section was defined."));
  }
  return Value();
}

CallArgs Evaluator::EvalArgs(const Expr& e, const ScopePtr& scope, size_t first) {
  CallArgs args;
  for (size_t i = first; i < e.children.size(); ++i) {
    args.positional.push_back(Eval(*e.children[i], scope));
  }
  for (const auto& [name, expr] : e.kwargs) args.keyword.emplace_back(name, Eval(*expr, scope));
  return args;
}

Value Evaluator::EvalFilter(const Expr& e, const ScopePtr& scope, const Value* placeholder) {
  const Expr* subject = e.children[0].get();
  Value v;
  if (subject == nullptr) {
    v = *placeholder;
  } else if (placeholder != nullptr && subject->kind == Expr::Kind::kFilter) {
    v = EvalFilter(*subject, scope, placeholder);
  } else {
    v = Eval(*subject, scope);
  }
  const CallArgs args = EvalArgs(e, scope, 1);
  return ApplyFilter(e.name, v, args, *budget_);
}

Value Evaluator::EvalCall(const Expr& e, const ScopePtr& scope) {
  const Expr& callee = *e.children[0];
  if (callee.kind == Expr::Kind::kGetAttr) {
    const Value obj = Eval(*callee.children[0], scope);
    FailIfUndefined(obj);
    const CallArgs args = EvalArgs(e, scope, 1);
    // loop.cycle(a, b, ...): the argument at the loop's index, round robin.
    if (callee.name == "cycle" && callee.children[0]->kind == Expr::Kind::kName &&
        callee.children[0]->name == "loop" && obj.is_dict() && obj.dict().Find("index0")) {
      if (args.positional.empty()) ThrowRuntime("no items for cycling given");
      const int64_t i = obj.dict().Find("index0")->int_value();
      return args.positional[static_cast<size_t>(i) % args.positional.size()];
    }
    if (std::optional<Value> r = CallMethod(obj, callee.name, args, *budget_)) return *r;
    return CallValue(GetAttr(obj, callee.name), args);
  }
  const Value fn = Eval(callee, scope);
  return CallValue(fn, EvalArgs(e, scope, 1));
}

Value Evaluator::CallValue(const Value& fn, const CallArgs& args) {
  FailIfUndefined(fn);
  if (fn.kind() != Value::Kind::kCallable) {
    ThrowRuntime(absl::StrCat("'", fn.TypeName(), "' object is not callable"));
  }
  const Callable& c = fn.callable();
  switch (c.kind) {
    case Callable::Kind::kMacro:
      return CallMacro(c, args);
    case Callable::Kind::kMethod:
      return *CallMethod(*c.receiver, c.name, args, *budget_);
    case Callable::Kind::kRaiseException: {
      const Value* message = args.Get(0, "message");
      throw RenderError(RenderError::Kind::kRaised, message ? ToPyStr(*message) : "");
    }
    case Callable::Kind::kStrftimeNow:
      return StrftimeNow(args);
    case Callable::Kind::kNamespace: {
      Dict attrs;
      for (const Value& a : args.positional) {
        if (!a.is_dict()) ThrowRuntime("namespace() takes mappings as positional arguments");
        for (const auto& [k, v] : a.dict().items()) attrs.Set(k, v);
      }
      for (const auto& [k, v] : args.keyword) attrs.Set(k, v);
      return Value::Namespace(std::move(attrs));  // refuses a namespace inside
    }
    case Callable::Kind::kDict: {
      Dict d;
      for (const auto& [k, v] : args.keyword) d.Set(k, v);
      return Value::MakeDict(std::move(d));
    }
    case Callable::Kind::kRange: {
      std::vector<int64_t> bounds;
      for (const Value& a : args.positional) {
        if (!a.is_number() || a.kind() == Value::Kind::kFloat) {
          ThrowRuntime(
              absl::StrCat("'", a.TypeName(), "' object cannot be interpreted as an integer"));
        }
        bounds.push_back(a.int_value());
      }
      if (bounds.empty() || bounds.size() > 3) ThrowRuntime("range expected 1 to 3 arguments");
      const int64_t start = bounds.size() == 1 ? 0 : bounds[0];
      const int64_t stop = bounds.size() == 1 ? bounds[0] : bounds[1];
      const int64_t step = bounds.size() == 3 ? bounds[2] : 1;
      if (step == 0) ThrowRuntime("range() arg 3 must not be zero");
      const double count =
          std::max(0.0, std::ceil((static_cast<double>(stop) - static_cast<double>(start)) /
                                  static_cast<double>(step)));
      if (count > kMaxRange) {
        throw RenderError(RenderError::Kind::kLimit,
                          absl::StrCat("Range too big. The sandbox blocks ranges larger than "
                                       "MAX_RANGE (",
                                       kMaxRange, ")."));
      }
      budget_->ChargeList(static_cast<size_t>(count));
      std::vector<Value> items;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        items.push_back(Value::Int(i));
      return Value::List(std::move(items));
    }
  }
  return Value();
}

Value Evaluator::CallMacro(const Callable& fn, const CallArgs& args) {
  const Macro& macro = *fn.macro;
  if (args.positional.size() > macro.params.size()) {
    ThrowRuntime(absl::StrCat("macro '", macro.name, "' takes not more than ", macro.params.size(),
                              " argument(s)"));
  }
  budget_->EnterCall();
  struct Leave {
    RenderBudget* b;
    ~Leave() { b->LeaveCall(); }
  } leave{budget_};
  std::shared_ptr<Scope> defined_in = std::static_pointer_cast<Scope>(fn.closure.lock());
  // A macro cannot outlive its scope (namespaces may not hold one), but never trust that.
  if (defined_in == nullptr) ThrowRuntime(absl::StrCat("macro '", macro.name, "' is out of scope"));
  auto frame = std::make_shared<Scope>(std::move(defined_in));
  for (const auto& kwarg : args.keyword) {
    const std::string& k = kwarg.first;
    const bool known = std::any_of(macro.params.begin(), macro.params.end(),
                                   [&k](const auto& p) { return p.first == k; });
    if (!known) {
      ThrowRuntime(absl::StrCat("macro '", macro.name, "' takes no keyword argument '", k, "'"));
    }
  }
  for (size_t i = 0; i < macro.params.size(); ++i) {
    const auto& [name, dflt] = macro.params[i];
    if (const Value* v = args.Get(i, name)) {
      frame->vars.Set(name, *v);
    } else if (dflt) {
      frame->vars.Set(name, Eval(*dflt, frame));
    } else {
      frame->vars.Set(name,
                      Value::Undefined(absl::StrCat("parameter '", name, "' was not provided")));
    }
  }
  std::string out;
  ExecBody(macro.body, frame, &out);
  return Value::String(std::move(out));
}

Value Evaluator::StrftimeNow(const CallArgs& args) const {
  const Value* format = args.Get(0, "format");
  if (format == nullptr || !format->is_string()) {
    ThrowRuntime("strftime_now() needs a format string");
  }
  if (format->str().size() > 4096) {
    ThrowRuntime("strftime_now(): a format longer than 4096 bytes");
  }
  // Python's datetime handles %f, %z and %Z itself; a naive datetime has no zone.
  std::string fmt =
      absl::StrReplaceAll(format->str(), {{"%%", "%%"}, {"%f", "000000"}, {"%z", ""}, {"%Z", ""}});
  std::tm tm{};
  tm.tm_year = static_cast<int>(now_.year() - 1900);
  tm.tm_mon = now_.month() - 1;
  tm.tm_mday = now_.day();
  tm.tm_hour = now_.hour();
  tm.tm_min = now_.minute();
  tm.tm_sec = now_.second();
  tm.tm_wday = (static_cast<int>(absl::GetWeekday(now_)) + 1) % 7;  // absl: Monday = 0
  tm.tm_yday = absl::GetYearDay(now_) - 1;
  tm.tm_isdst = -1;
  if (fmt.empty()) return Value::String("");
  std::string buf(256 + fmt.size() * 64, '\0');
  const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
  buf.resize(n);
  return Value::String(std::move(buf));
}

}  // namespace tessera::chat_template
