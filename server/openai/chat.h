// POST /v1/chat/completions request bodies -> one tessera.v1.GenerateRequest whose text is the
// prompt the model's chat template renders (add_special_tokens false: the template holds BOS).
//
// messages: system, user, assistant, tool (and developer, read as system by templates that know
// it); content a string, null, or a list of {"type": "text", "text"} parts joined with "\n" (as
// vLLM joins them); an assistant's tool_calls have their function.arguments JSON string turned
// into an object for the template (as vLLM does). tools / tool_choice ("none" leaves the tools
// out of the prompt, as vLLM does), chat_template_kwargs, add_generation_prompt (default true),
// continue_final_message, echo (vLLM: the reply starts with the last message's content when
// continuing it). Sampling fields as completions.h, plus max_completion_tokens (an alias of
// max_tokens), logprobs (bool) and top_logprobs (0..20, needs logprobs).
//
// max_tokens left out stays unset in the request: vLLM's default is the rest of the context,
// which only the daemon knows after tokenizing (ChatCall::max_tokens_given says which).
//
// Errors name the field (openai_error.h); a template's failure (raise_exception included)
// becomes InvalidArgument "the chat template failed: <its message>" (param "messages"). Unknown
// fields are ignored, as in completions.h.
//
// Stateless; thread-safe (ChatTemplate::Apply is).
#ifndef TESSERA_SERVER_OPENAI_CHAT_H_
#define TESSERA_SERVER_OPENAI_CHAT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/openai/tool_call_parser.h"
#include "tessera/v1/inference.pb.h"
#include "text/chat_template/chat_template.h"

namespace tessera::openai {

struct ChatCall {
  std::string model;
  v1::GenerateRequest request;  // adapter and request_id left empty
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
  bool max_tokens_given = false;
  // Tools were given and tool_choice is not "none": parse calls out of the output in `style`.
  bool tools_given = false;
  ToolCallStyle style = ToolCallStyle::kNone;
  bool echo = false;
  std::string echo_text;  // with echo and continue_final_message: the last message's content
  std::string user;
  // Top-level fields the parser does not know and ignored, for the caller to log (vLLM logs them).
  std::vector<std::string> ignored_fields;
};

// `style`: the tool-call format of the served model (DetectToolCallStyle on its template, or a
// flag); it is copied into ChatCall::style when the request gives tools.
absl::StatusOr<ChatCall> ParseChatRequest(const nlohmann::ordered_json& body,
                                          const chat_template::ChatTemplate& tmpl,
                                          ToolCallStyle style = ToolCallStyle::kNone);

// The message list of a chat body (also POST /tokenize's `messages`) -> the template's request:
// content parts joined, tool-call arguments parsed. Errors name the field ("messages[2].content").
absl::StatusOr<chat_template::ChatRequest> ToTemplateRequest(const nlohmann::ordered_json& body);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_CHAT_H_
