#include "server/openai/tool_call_stream.h"
namespace tessera::openai {
ToolCallStream::Delta ToolCallStream::Feed(std::string_view text) {
  return {std::string(text), {}};
}
ToolCallStream::Delta ToolCallStream::Finish() { return {}; }
}  // namespace tessera::openai
