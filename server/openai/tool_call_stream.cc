#include "server/openai/tool_call_stream.h"

#include <algorithm>
#include <utility>

namespace tessera::openai {
namespace {

// The length of the longest suffix of `text` that is a proper prefix of `tag`: text that may
// be the start of the tag, to withhold until the next piece tells.
size_t TagPrefixAtEnd(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n) {
    if (tag.starts_with(text.substr(text.size() - n))) return n;
  }
  return 0;
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

}  // namespace

void ToolCallStream::Release(ParsedOutput parsed, Delta* out) {
  out->content += parsed.content;
  calls_released_ += static_cast<int>(parsed.calls.size());
  for (ToolCall& c : parsed.calls) out->calls.push_back(std::move(c));
}

void ToolCallStream::FeedHermes(Delta* out) {
  while (!pending_.empty()) {
    if (!in_call_) {
      const size_t open = pending_.find(kHermesOpen);
      if (open == std::string::npos) {
        const size_t keep = TagPrefixAtEnd(pending_, kHermesOpen);
        out->content += pending_.substr(0, pending_.size() - keep);
        pending_.erase(0, pending_.size() - keep);
        return;
      }
      out->content += pending_.substr(0, open);
      pending_.erase(0, open);
      in_call_ = true;
    }
    const size_t close = pending_.find(kHermesClose);
    if (close == std::string::npos) return;  // the call is still coming
    const size_t end = close + kHermesClose.size();
    Release(ParseToolCalls(ToolCallStyle::kHermes, std::string_view(pending_).substr(0, end)), out);
    pending_.erase(0, end);
    in_call_ = false;
  }
}

void ToolCallStream::FeedLlama3(Delta* out) {
  if (llama3_ == Llama3::kUndecided) {
    // Calls start the output: decide on its first non-space characters.
    size_t i = 0;
    while (i < pending_.size() && IsSpace(pending_[i])) ++i;
    const std::string_view rest = std::string_view(pending_).substr(i);
    if (rest.empty() || (rest.size() < kPythonTag.size() && kPythonTag.starts_with(rest))) return;
    llama3_ =
        rest.front() == '{' || rest.starts_with(kPythonTag) ? Llama3::kCalls : Llama3::kContent;
  }
  // Calls are all-or-nothing (tool_call_parser.h), so they wait for the end.
  if (llama3_ == Llama3::kContent) {
    out->content += pending_;
    pending_.clear();
  }
}

ToolCallStream::Delta ToolCallStream::Feed(std::string_view text) {
  Delta out;
  pending_.append(text);
  switch (style_) {
    case ToolCallStyle::kHermes:
      FeedHermes(&out);
      break;
    case ToolCallStyle::kLlama3Json:
      FeedLlama3(&out);
      break;
    case ToolCallStyle::kNone:
      out.content = std::move(pending_);
      pending_.clear();
      break;
  }
  return out;
}

ToolCallStream::Delta ToolCallStream::Finish() {
  Delta out;
  if (style_ == ToolCallStyle::kNone) {
    out.content = std::move(pending_);
  } else {
    // What is left is a call the output ended inside (hermes), the held calls (llama3_json), or
    // text that only looked like a start.
    Release(ParseToolCalls(style_, pending_), &out);
  }
  pending_.clear();
  in_call_ = false;
  return out;
}

}  // namespace tessera::openai
