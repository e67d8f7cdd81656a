#include "server/openai/completions.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/openai/openai_error.h"
#include "server/openai/request_fields.h"
#include "server/openai/sampling_fields.h"

namespace tessera::openai {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int kOpenAiDefaultMaxTokens = 16;

// A list of token ids, or an error naming prompt[index] (index < 0: the prompt itself).
absl::Status ReadTokenIds(const Json& list, int index, v1::GenerateRequest* out) {
  const std::string name = index < 0 ? "prompt" : absl::StrCat("prompt[", index, "]");
  if (list.empty()) return InvalidParam("prompt", absl::StrCat(name, " is an empty token list"));
  for (size_t i = 0; i < list.size(); ++i) {
    absl::StatusOr<int64_t> id = IntOf(list[i], absl::StrCat(name, "[", i, "]"), 0, kInt32Max);
    if (!id.ok()) return InvalidParam("prompt", std::string(id.status().message()));
    out->add_token_ids(static_cast<int32_t>(*id));
  }
  return absl::OkStatus();
}

// The prompts: a string, a list of token ids, or a list of strings and token-id lists.
absl::StatusOr<std::vector<v1::GenerateRequest>> ReadPrompts(const Json& body) {
  const Json* prompt = FindField(body, "prompt");
  if (prompt == nullptr) return InvalidParam("prompt", "prompt is required");
  std::vector<v1::GenerateRequest> out;
  if (prompt->is_string()) {
    out.emplace_back().set_text(prompt->get<std::string>());
    return out;
  }
  if (!prompt->is_array()) {
    return InvalidParam("prompt", absl::StrCat("prompt must be a string, an array of token ids or "
                                               "an array of prompts, not ",
                                               TypeName(*prompt)));
  }
  if (prompt->empty()) return InvalidParam("prompt", "prompt is an empty array");
  if (prompt->front().is_number()) {
    if (absl::Status s = ReadTokenIds(*prompt, -1, &out.emplace_back()); !s.ok()) return s;
    return out;
  }
  for (size_t i = 0; i < prompt->size(); ++i) {
    const Json& p = (*prompt)[i];
    v1::GenerateRequest& r = out.emplace_back();
    if (p.is_string()) {
      r.set_text(p.get<std::string>());
    } else if (p.is_array()) {
      if (absl::Status s = ReadTokenIds(p, static_cast<int>(i), &r); !s.ok()) return s;
    } else {
      return InvalidParam("prompt", absl::StrCat("prompt[", i,
                                                 "] must be a string or an array of "
                                                 "token ids, not ",
                                                 TypeName(p)));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<CompletionCall> ParseCompletionRequest(const Json& body) {
  if (!body.is_object()) return InvalidParam("", "the request body must be a JSON object");
  CompletionCall call;
  TESSERA_OPENAI_ASSIGN_OR_RETURN(model, GetString(body, "model"));
  call.model = model.value_or("");
  TESSERA_OPENAI_ASSIGN_OR_RETURN(suffix, GetString(body, "suffix"));
  if (suffix && !suffix->empty()) return InvalidParam("suffix", "suffix is not supported");
  const Json* format = FindField(body, "response_format");
  if (format != nullptr &&
      !(format->is_object() && format->contains("type") && (*format)["type"] == "text")) {
    return InvalidParam("response_format",
                        "response_format other than {\"type\": \"text\"} is not supported "
                        "(tessera has no guided decoding)");
  }

  v1::GenerateRequest common;
  if (absl::Status s = ReadSamplingFields(body, &common); !s.ok()) return s;
  TESSERA_OPENAI_ASSIGN_OR_RETURN(max_tokens, GetInt(body, "max_tokens", 1, kInt32Max));
  common.set_max_tokens(static_cast<int32_t>(max_tokens.value_or(kOpenAiDefaultMaxTokens)));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(logprobs, GetInt(body, "logprobs", 0, 20));
  call.logprobs = static_cast<int>(logprobs.value_or(0));
  call.logprobs_requested = logprobs.has_value();
  // The daemon's 0 means none; logprobs 0 asks for the chosen tokens' (the builder drops the
  // one alternative).
  if (call.logprobs_requested) common.set_logprobs(std::max(call.logprobs, 1));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(echo, GetBool(body, "echo"));
  call.echo = echo.value_or(false);
  if (call.echo && call.logprobs_requested) {
    // The echoed prompt's tokens carry log-probabilities too (OpenAI's and vLLM's behaviour).
    common.set_prompt_logprobs(std::max(common.prompt_logprobs(), std::max(call.logprobs, 1)));
  }
  TESSERA_OPENAI_ASSIGN_OR_RETURN(add_special, GetBool(body, "add_special_tokens"));
  if (add_special) common.set_add_special_tokens(*add_special);
  call.n = common.has_n() ? common.n() : 1;

  if (absl::Status s = ReadStreamFields(body, &call.stream, &call.include_usage); !s.ok()) return s;
  TESSERA_OPENAI_ASSIGN_OR_RETURN(user, GetString(body, "user"));
  call.user = user.value_or("");

  TESSERA_OPENAI_ASSIGN_OR_RETURN(prompts, ReadPrompts(body));
  for (v1::GenerateRequest& p : prompts) {
    v1::GenerateRequest r = common;
    if (!p.text().empty()) r.set_text(p.text());
    r.mutable_token_ids()->Swap(p.mutable_token_ids());
    call.requests.push_back(std::move(r));
  }
  // vLLM's priority and request_id are known and ignored: the daemon has its own.
  // clang-format off
  call.ignored_fields = UnknownFields(body, {
      "model", "prompt", "max_tokens", "logprobs", "echo", "stream", "stream_options", "user",
      "suffix", "add_special_tokens", "response_format", "priority", "request_id"}, IsSamplingField);
  // clang-format on
  return call;
}

}  // namespace tessera::openai
