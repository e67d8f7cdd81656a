#include "text/chat_template/sandbox.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "text/chat_template/render_error.h"

namespace tessera::chat_template {
namespace {

[[noreturn]] void ThrowLimit(std::string message) {
  throw RenderError(RenderError::Kind::kLimit, std::move(message));
}

}  // namespace

RenderBudget::RenderBudget(const SandboxLimits& limits)
    : limits_(limits), deadline_(absl::Now() + limits.max_render_time) {}

void RenderBudget::ChargeIteration() {
  if (++iterations_ > limits_.max_loop_iterations) {
    ThrowLimit(absl::StrCat("more than ", limits_.max_loop_iterations,
                            " loop iterations (sandbox limit)"));
  }
  // The clock is cheap next to an iteration's work; checking every 64th bounds the overshoot.
  if ((iterations_ & 63) == 0) CheckDeadline();
}

void RenderBudget::ChargeString(size_t bytes) {
  if (bytes > limits_.max_output_bytes) {
    ThrowLimit(absl::StrCat("a string of ", bytes, " bytes exceeds the sandbox limit of ",
                            limits_.max_output_bytes, " bytes"));
  }
  ChargeWork(bytes);
}

void RenderBudget::CheckStringSize(size_t bytes) const {
  if (bytes > limits_.max_output_bytes) {
    ThrowLimit(
        absl::StrCat("a string of more than ", limits_.max_output_bytes, " bytes (sandbox limit)"));
  }
}

void RenderBudget::ChargeList(size_t items) {
  if (items > limits_.max_list_items) {
    ThrowLimit(absl::StrCat("a list of ", items, " items exceeds the sandbox limit of ",
                            limits_.max_list_items, " items"));
  }
  ChargeWork(items * 32);  // about the size of one Value
}

void RenderBudget::ChargeWork(size_t bytes) {
  work_bytes_ += bytes;
  if (work_bytes_ > limits_.max_work_bytes) {
    ThrowLimit(absl::StrCat("the render created more than ", limits_.max_work_bytes,
                            " bytes of strings and lists (sandbox limit)"));
  }
}

void RenderBudget::EnterCall() {
  if (++call_depth_ > limits_.max_call_depth) {
    --call_depth_;
    ThrowLimit(absl::StrCat("macro calls nested deeper than ", limits_.max_call_depth,
                            " (sandbox limit)"));
  }
  CheckDeadline();
}

void RenderBudget::CheckDeadline() {
  if (absl::Now() > deadline_) {
    ThrowLimit(absl::StrCat("rendering took longer than ",
                            absl::FormatDuration(limits_.max_render_time), " (sandbox limit)"));
  }
}

}  // namespace tessera::chat_template
