// ChatResponseBuilder: the v1.GenerateResponse stream of one /v1/chat/completions call ->
// OpenAI's "chat.completion" JSON, or its "chat.completion.chunk" SSE chunks.
//
// Whole: choices [{index, message {role "assistant", content, tool_calls?}, logprobs
// {content: [{token, logprob, bytes, top_logprobs}]} | null, finish_reason}], usage. With tools
// given, calls found in a choice's text (tool_call_parser.h) become message.tool_calls, its
// content the rest (null when nothing is left), and finish_reason "tool_calls".
// Streaming: per choice first a delta {role: "assistant", content: ""}, then content deltas (and
// tool_calls deltas, each call whole, with index, id, type "function", function {name,
// arguments}), the finish_reason on the last chunk of a choice; after the stream, with
// include_usage, a usage chunk with empty choices. With include_usage every other chunk carries
// "usage": null, as OpenAI sends it.
//
// Not thread-safe: one per HTTP call.
#ifndef TESSERA_SERVER_OPENAI_CHAT_RESPONSE_H_
#define TESSERA_SERVER_OPENAI_CHAT_RESPONSE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/openai/chat.h"
#include "server/openai/response_common.h"
#include "server/openai/tool_call_stream.h"
#include "tessera/v1/inference.pb.h"

namespace tessera::openai {

class ChatResponseBuilder {
 public:
  // `call` must outlive the builder. `header.id` is typically NewResponseId("chatcmpl-").
  ChatResponseBuilder(const ChatCall& call, ResponseHeader header);
  ChatResponseBuilder(const ChatResponseBuilder&) = delete;
  ChatResponseBuilder& operator=(const ChatResponseBuilder&) = delete;

  // Whole response: feed every message, then Build(). InvalidArgument for a sample index out
  // of range.
  absl::Status Add(const v1::GenerateResponse& message);
  nlohmann::ordered_json Build() const;

  // Streaming: the chunks for one message, in order.
  absl::StatusOr<std::vector<nlohmann::ordered_json>> StreamChunks(
      const v1::GenerateResponse& message);
  // After the stream ended: the usage chunk when include_usage. Then "data: [DONE]".
  std::vector<nlohmann::ordered_json> StreamEnd() const;

 private:
  struct Choice {
    std::string text;
    nlohmann::ordered_json logprobs = nlohmann::ordered_json::array();
    v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
    nlohmann::ordered_json stop_reason;  // vLLM's: the stop string or token id, else null
    bool role_sent = false;
    int calls_sent = 0;                     // streaming: tool_calls delta indices
    std::unique_ptr<ToolCallStream> tools;  // streaming with tools only
  };

  absl::Status Check(const v1::GenerateResponse& message) const;
  void Record(const v1::GenerateResponse& message);
  // Appends the delta to its choice (text, logprobs, finish); returns the delta's logprob entries.
  nlohmann::ordered_json Apply(const v1::SampleDelta& delta);
  nlohmann::ordered_json Chunk(int index, nlohmann::ordered_json delta,
                               nlohmann::ordered_json logprobs,
                               nlohmann::ordered_json finish_reason) const;
  nlohmann::ordered_json LogprobEntries(const v1::SampleDelta& delta) const;
  nlohmann::ordered_json Header(const char* object) const;
  // Streaming tool calls, each whole, numbered from the choice's calls_sent.
  nlohmann::ordered_json ToolCallDeltas(Choice* choice, std::vector<ToolCall> calls) const;

  const ChatCall& call_;
  ResponseHeader header_;
  std::vector<Choice> choices_;
  int64_t prompt_tokens_ = 0;
  int64_t completion_tokens_ = 0;
  int64_t cached_prompt_tokens_ = 0;
};

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_CHAT_RESPONSE_H_
