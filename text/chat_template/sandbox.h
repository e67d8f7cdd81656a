// Sandbox limits of the chat-template interpreter, and the budget that enforces them during one
// render.
//
// A chat template is code that comes with a model, so a hostile or broken one must fail with an
// error naming its line instead of hanging the server or exhausting its memory. The interpreter
// has no file, network or environment access at all (no include/import, no os, no attribute
// walking into host objects); these limits bound what is left: time (loop iterations, a
// deadline), stack (call and nesting depth) and memory (the size of any one string or list, and
// the total bytes all string and list operations of one render may create).
//
// A RenderBudget belongs to one render on one thread; not thread-safe.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_SANDBOX_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_SANDBOX_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

namespace tessera::chat_template {

struct SandboxLimits {
  // Loop iterations of one render, all loops together (a list comprehension in a filter counts
  // as its items).
  int64_t max_loop_iterations = 1'000'000;
  // Nested macro calls (Python's own recursion limit stops jinja2 near 1000 frames).
  int max_call_depth = 200;
  // Nesting of expressions (parentheses, operator chains) and of block statements, checked while
  // parsing so that the recursive evaluator cannot overflow the stack.
  int max_expression_depth = 300;
  int max_block_depth = 100;
  // Size of the rendered prompt, and of any single string or captured block.
  size_t max_output_bytes = 16 << 20;
  // Elements in any one list (range() is capped lower, at jinja2's own 100,000).
  size_t max_list_items = 1 << 20;
  // Bytes that all string and list operations of one render may create together: bounds
  // memory even when a template keeps every intermediate value alive.
  size_t max_work_bytes = size_t{1} << 30;
  // Wall-clock time of one render.
  absl::Duration max_render_time = absl::Seconds(10);
};

class RenderBudget {
 public:
  explicit RenderBudget(const SandboxLimits& limits);
  RenderBudget(const RenderBudget&) = delete;
  RenderBudget& operator=(const RenderBudget&) = delete;

  const SandboxLimits& limits() const { return limits_; }

  // Each throws RenderError(kLimit) naming the limit when it would be exceeded.
  void ChargeIteration();
  void ChargeString(size_t bytes);           // a new string of this size is about to be created
  void CheckStringSize(size_t bytes) const;  // a string being built has reached this size
  void ChargeList(size_t items);             // a new list of this many items is about to be created
  void EnterCall();                          // pair with LeaveCall
  void LeaveCall() { --call_depth_; }
  void CheckDeadline();

 private:
  void ChargeWork(size_t bytes);

  SandboxLimits limits_;
  int64_t iterations_ = 0;
  size_t work_bytes_ = 0;
  int call_depth_ = 0;
  absl::Time deadline_;
};

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_SANDBOX_H_
