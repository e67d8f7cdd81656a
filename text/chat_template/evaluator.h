// Evaluator: renders a parsed template against its variables, under a render budget.
//
// Scoping follows jinja2: a for-loop body, macro, with/generation block and block set get a
// child scope (a `set` inside a loop does not change the variable outside it; templates use
// namespace() for that), while if-blocks share their enclosing scope. Globals are those of
// transformers' environment (raise_exception, strftime_now, namespace) and jinja2's range and
// dict.
//
// One Evaluator renders once, on one thread. Throws RenderError with the template line set.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_EVALUATOR_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_EVALUATOR_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/time/civil_time.h"
#include "text/chat_template/ast.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/sandbox.h"
#include "text/chat_template/value.h"

namespace tessera::chat_template {

class Evaluator {
 public:
  // `now` is the local time strftime_now() formats.
  Evaluator(RenderBudget* budget, absl::CivilSecond now) : budget_(budget), now_(now) {}
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  std::string Render(const Body& body, const Dict& variables);

 private:
  struct Scope {
    explicit Scope(std::shared_ptr<Scope> p) : parent(std::move(p)) {}
    Dict vars;
    std::shared_ptr<Scope> parent;
  };
  using ScopePtr = std::shared_ptr<Scope>;
  enum class Flow { kNormal, kBreak, kContinue };

  // Bounds the evaluator's own recursion (nested expressions, blocks and macro calls together),
  // so that no template can overflow the stack.
  class FrameGuard {
   public:
    explicit FrameGuard(Evaluator* e);
    ~FrameGuard() { --evaluator_->depth_; }

   private:
    Evaluator* evaluator_;
  };

  Flow ExecBody(const Body& body, const ScopePtr& scope, std::string* out);
  Flow Exec(const Stmt& s, const ScopePtr& scope, std::string* out);
  Flow ExecFor(const Stmt& s, const ScopePtr& scope, std::string* out);
  void Assign(const Target& target, const Value& v, const ScopePtr& scope);
  void Append(std::string* out, std::string_view s);

  Value Eval(const Expr& e, const ScopePtr& scope);
  Value EvalNode(const Expr& e, const ScopePtr& scope);
  Value Lookup(const std::string& name, const ScopePtr& scope) const;
  CallArgs EvalArgs(const Expr& e, const ScopePtr& scope, size_t first);
  // A kFilter node; `placeholder` stands for the innermost subject of a block filter.
  Value EvalFilter(const Expr& e, const ScopePtr& scope, const Value* placeholder);
  Value EvalCall(const Expr& e, const ScopePtr& scope);
  Value CallValue(const Value& fn, const CallArgs& args);
  Value CallMacro(const Callable& fn, const CallArgs& args);
  Value StrftimeNow(const CallArgs& args) const;

  RenderBudget* budget_;
  absl::CivilSecond now_;
  ScopePtr globals_;
  int depth_ = 0;
};

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_EVALUATOR_H_
