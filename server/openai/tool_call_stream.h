// ToolCallStream: ParseToolCalls for streamed output. Text that may still turn out to be (part
// of) a tool call is withheld until it can tell; everything else passes through as content at
// once. A call is released whole, when it is complete (clients accumulate tool-call deltas, so
// one delta carrying the name and all arguments is valid OpenAI streaming).
//
// Not thread-safe: one per streamed choice.
#ifndef TESSERA_SERVER_OPENAI_TOOL_CALL_STREAM_H_
#define TESSERA_SERVER_OPENAI_TOOL_CALL_STREAM_H_

#include <string>
#include <string_view>
#include <vector>

#include "server/openai/tool_call_parser.h"

namespace tessera::openai {

class ToolCallStream {
 public:
  explicit ToolCallStream(ToolCallStyle style) : style_(style) {}

  struct Delta {
    std::string content;
    std::vector<ToolCall> calls;
  };

  // The content and calls that `text` (appended to what came before) makes certain.
  Delta Feed(std::string_view text);
  // The output ended: whatever was withheld, as calls or content.
  Delta Finish();
  // Whether any call has been released.
  bool saw_calls() const { return calls_released_ > 0; }

 private:
  void FeedHermes(Delta* out);
  void FeedLlama3(Delta* out);
  void Release(ParsedOutput parsed, Delta* out);

  ToolCallStyle style_;
  std::string pending_;   // withheld text
  bool in_call_ = false;  // hermes: pending_ starts with an open <tool_call>
  enum class Llama3 { kUndecided, kContent, kCalls } llama3_ = Llama3::kUndecided;
  int calls_released_ = 0;
};

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_TOOL_CALL_STREAM_H_
