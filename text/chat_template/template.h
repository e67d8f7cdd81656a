// Template: a jinja2 template parsed once and rendered many times, in the sandbox.
//
// This is the interpreter's public entry point: Parse() lexes and parses; Render() runs the tree
// against variables. As in jinja2 3.x, an unknown filter or test fails only when evaluated. Errors
// come back as absl::Status, never as exceptions:
//   - the template called raise_exception(message): InvalidArgument with exactly that message
//     (IsRaisedByTemplate() tells it apart; the input was refused by the template),
//   - a sandbox limit: ResourceExhausted, "chat template line N: ...",
//   - a syntax or runtime error: FailedPrecondition, "chat template line N: ...".
//
// A Template is immutable after Parse; Render is const and may run on many threads at once.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_TEMPLATE_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_TEMPLATE_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "text/chat_template/ast.h"
#include "text/chat_template/sandbox.h"
#include "text/chat_template/value.h"

namespace tessera::chat_template {

struct RenderOptions {
  SandboxLimits limits;
  // The local time strftime_now() reads; the machine's clock when unset.
  std::optional<absl::CivilSecond> now;
};

class Template {
 public:
  static absl::StatusOr<Template> Parse(std::string_view source,
                                        const SandboxLimits& limits = SandboxLimits());

  absl::StatusOr<std::string> Render(const Dict& variables,
                                     const RenderOptions& options = RenderOptions()) const;

 private:
  explicit Template(std::shared_ptr<const Body> body) : body_(std::move(body)) {}

  std::shared_ptr<const Body> body_;
};

// True when the status is the template's own raise_exception(message).
bool IsRaisedByTemplate(const absl::Status& status);

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_TEMPLATE_H_
