#include "text/chat_template/template.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

}  // namespace

absl::StatusOr<Template> Template::Parse(std::string_view source, const SandboxLimits& limits) {
  try {
    auto body = std::make_shared<Body>(ParseTemplate(Tokenize(source), limits));
    return Template(std::move(body));
  } catch (const RenderError& e) {
    return ToStatus(e);
  } catch (const std::exception& e) {
    // Not expected (every failure the interpreter knows is a RenderError); never crash on it.
    return absl::InternalError(absl::StrCat("chat template: ", e.what()));
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
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("chat template: out of memory while rendering");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("chat template: ", e.what()));
  }
}

bool IsRaisedByTemplate(const absl::Status& status) {
  return status.GetPayload(kRaisedPayload).has_value();
}

}  // namespace tessera::chat_template
