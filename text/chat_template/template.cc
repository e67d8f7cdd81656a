#include "text/chat_template/template.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/evaluator.h"
#include "text/chat_template/lexer.h"
#include "text/chat_template/parser.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {
namespace {

constexpr char kRaisedPayload[] = "tessera.chat_template/raised";

absl::Status ToStatus(const RenderError& e) {
  const std::string where = e.line() > 0 ? absl::StrCat("chat template line ", e.line(), ": ")
                                         : std::string("chat template: ");
  switch (e.kind()) {
    case RenderError::Kind::kRaised: {
      absl::Status s = absl::InvalidArgumentError(e.message());
      s.SetPayload(kRaisedPayload, absl::Cord("1"));
      return s;
    }
    case RenderError::Kind::kLimit:
      return absl::ResourceExhaustedError(where + e.message());
    case RenderError::Kind::kSyntax:
    case RenderError::Kind::kRuntime:
      return absl::FailedPreconditionError(where + e.message());
  }
  return absl::InternalError(e.message());
}

// jinja2 resolves filter and test names when it compiles a template, so an unknown name fails
// the whole template even in a branch that never runs.
void CheckNames(const Expr& e) {
  if (e.kind == Expr::Kind::kFilter && !HasFilter(e.name)) {
    throw RenderError(RenderError::Kind::kSyntax, absl::StrCat("No filter named '", e.name, "'."),
                      e.line);
  }
  if (e.kind == Expr::Kind::kTest && !HasTest(e.name)) {
    throw RenderError(RenderError::Kind::kSyntax, absl::StrCat("No test named '", e.name, "'."),
                      e.line);
  }
  for (const ExprPtr& c : e.children) {
    if (c) CheckNames(*c);
  }
  for (const auto& [name, c] : e.kwargs) CheckNames(*c);
}

void CheckNames(const Body& body) {
  for (const StmtPtr& s : body) {
    for (const ExprPtr* e : {&s->expr, &s->filter}) {
      if (*e) CheckNames(**e);
    }
    for (const ExprPtr& c : s->conditions) CheckNames(*c);
    for (const auto& [target, e] : s->assignments) CheckNames(*e);
    for (const Body& b : s->bodies) CheckNames(b);
    CheckNames(s->else_body);
    if (s->macro) {
      for (const auto& [name, e] : s->macro->params) {
        if (e) CheckNames(*e);
      }
      CheckNames(s->macro->body);
    }
  }
}

}  // namespace

absl::StatusOr<Template> Template::Parse(std::string_view source, const SandboxLimits& limits) {
  try {
    auto body = std::make_shared<Body>(ParseTemplate(Tokenize(source), limits));
    CheckNames(*body);
    return Template(std::move(body));
  } catch (const RenderError& e) {
    return ToStatus(e);
  }
}

absl::StatusOr<std::string> Template::Render(const Dict& variables,
                                             const RenderOptions& options) const {
  const absl::CivilSecond now =
      options.now.value_or(absl::ToCivilSecond(absl::Now(), absl::LocalTimeZone()));
  RenderBudget budget(options.limits);
  Evaluator evaluator(&budget, now);
  try {
    return evaluator.Render(*body_, variables);
  } catch (const RenderError& e) {
    return ToStatus(e);
  }
}

bool IsRaisedByTemplate(const absl::Status& status) {
  return status.GetPayload(kRaisedPayload).has_value();
}

}  // namespace tessera::chat_template
