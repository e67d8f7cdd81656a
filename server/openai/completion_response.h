// CompletionResponseBuilder: the v1.GenerateResponse streams of one /v1/completions call (one
// stream per prompt) -> OpenAI's "text_completion" JSON, whole or as SSE chunks.
//
// Choice index = prompt_index * n + sample index, as OpenAI and vLLM number them. Logprobs take
// the legacy completions shape {tokens, token_logprobs, top_logprobs, text_offset}. With echo, a
// choice's text starts with its prompt's text (the request's text, else the detokenizer's text of
// its token ids); with echo and logprobs the prompt's tokens lead the logprobs too (their
// log-probabilities come from the response's prompt_logprobs, which ParseCompletionRequest asks
// for; the first prompt token's is null).
//
// Not thread-safe: one builder per HTTP call, fed from one thread.
#ifndef TESSERA_SERVER_OPENAI_COMPLETION_RESPONSE_H_
#define TESSERA_SERVER_OPENAI_COMPLETION_RESPONSE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "server/openai/completions.h"
#include "server/openai/response_common.h"
#include "tessera/v1/inference.pb.h"

namespace tessera::openai {

// The text of token ids (the model's tokenizer); only echo of token-id prompts calls it.
using Detokenizer = std::function<std::string(const std::vector<int32_t>&)>;

class CompletionResponseBuilder {
 public:
  // `call` must outlive the builder. `header.id` is typically NewResponseId("cmpl-").
  CompletionResponseBuilder(const CompletionCall& call, ResponseHeader header,
                            Detokenizer detokenizer = nullptr);
  CompletionResponseBuilder(const CompletionResponseBuilder&) = delete;
  CompletionResponseBuilder& operator=(const CompletionResponseBuilder&) = delete;

  // The token ids a text prompt became, when the caller knows them: echo with logprobs names
  // the first prompt token from them (the response gives no log-probability, nor id, for it).
  void SetPromptTokenIds(int prompt_index, std::vector<int32_t> ids);

  // Whole response: feed every message of every prompt's stream, then Build().
  // InvalidArgument for a prompt index or sample index out of range (a caller bug).
  absl::Status Add(int prompt_index, const v1::GenerateResponse& message);
  nlohmann::ordered_json Build() const;

  // Streaming: the chunks to send for one message (one chunk per sample delta that has text or
  // a finish reason), in order. Each is a whole "text_completion" object with one choice.
  absl::StatusOr<std::vector<nlohmann::ordered_json>> StreamChunks(
      int prompt_index, const v1::GenerateResponse& message);
  // After every prompt's stream has ended: the usage chunk (empty choices) when include_usage,
  // else nothing. The caller then sends "data: [DONE]".
  std::vector<nlohmann::ordered_json> StreamEnd() const;

 private:
  struct Choice {
    std::string text;
    nlohmann::ordered_json logprobs = nlohmann::ordered_json::object();  // the legacy shape
    int64_t offset = 0;  // code points of text so far, for text_offset
    v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
    nlohmann::ordered_json stop_reason;  // vLLM's: the stop string or token id, else null
    bool echoed = false;                 // the prompt has been put in front
  };
  struct PromptState {
    bool prompt_logprobs_seen = false;
    std::vector<v1::PositionLogprobs> prompt_logprobs;
    std::vector<int32_t> token_ids;  // SetPromptTokenIds
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    int64_t cached_prompt_tokens = 0;
    bool usage_seen = false;
  };

  absl::Status Check(int prompt_index, const v1::GenerateResponse& message) const;
  void Record(int prompt_index, const v1::GenerateResponse& message);
  // Appends `delta` to its choice; returns the new part as a choice object.
  nlohmann::ordered_json Apply(int prompt_index, const v1::SampleDelta& delta);
  void Echo(int prompt_index, Choice* choice, std::string* new_text,
            nlohmann::ordered_json* new_logprobs);
  void AppendLogprob(Choice* choice, const std::string& token, nlohmann::ordered_json logprob,
                     nlohmann::ordered_json top, nlohmann::ordered_json* new_logprobs);
  nlohmann::ordered_json Header() const;
  nlohmann::ordered_json Usage() const;

  const CompletionCall& call_;
  ResponseHeader header_;
  Detokenizer detokenizer_;
  std::vector<Choice> choices_;
  std::vector<PromptState> prompts_;
};

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_COMPLETION_RESPONSE_H_
