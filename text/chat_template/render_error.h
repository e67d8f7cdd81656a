// RenderError: how the chat-template interpreter reports a failure from deep inside the
// recursive parser and evaluator.
//
// The parser and evaluator recurse through the template's syntax tree; threading a StatusOr
// through every node visit would double the code. They throw RenderError instead, and the one
// public entry point (Template::Render / Template::Parse) catches it and turns it into an
// absl::Status. No exception crosses the library's public API.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_RENDER_ERROR_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_RENDER_ERROR_H_

#include <string>
#include <utility>

namespace tessera::chat_template {

class RenderError {
 public:
  enum class Kind {
    kRaised,   // the template called raise_exception(message)
    kSyntax,   // the template does not parse
    kRuntime,  // a type error, an undefined value used, an unsafe call
    kLimit,    // a sandbox limit was reached
  };

  RenderError(Kind kind, std::string message, int line = 0)
      : kind_(kind), message_(std::move(message)), line_(line) {}

  Kind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  // 1-based template line; 0 while not yet known (the evaluator fills it in).
  int line() const { return line_; }
  void set_line(int line) { line_ = line; }

 private:
  Kind kind_;
  std::string message_;
  int line_;
};

[[noreturn]] inline void ThrowRuntime(std::string message) {
  throw RenderError(RenderError::Kind::kRuntime, std::move(message));
}

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_RENDER_ERROR_H_
