#include "server/openai/tokenize.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/openai/chat.h"
#include "server/openai/openai_error.h"
#include "server/openai/request_fields.h"

namespace tessera::openai {

absl::StatusOr<TokenizeCall> ParseTokenizeRequest(const Json& body,
                                                  const chat_template::ChatTemplate* tmpl) {
  if (!body.is_object()) return InvalidParam("", "the request body must be a JSON object");
  TokenizeCall call;
  TESSERA_OPENAI_ASSIGN_OR_RETURN(model, GetString(body, "model"));
  call.model = model.value_or("");
  TESSERA_OPENAI_ASSIGN_OR_RETURN(strs, GetBool(body, "return_token_strs"));
  call.return_token_strs = strs.value_or(false);
  TESSERA_OPENAI_ASSIGN_OR_RETURN(add_special, GetBool(body, "add_special_tokens"));
  const bool has_prompt = FindField(body, "prompt") != nullptr;
  const bool has_messages = FindField(body, "messages") != nullptr;
  if (has_prompt == has_messages) {
    return InvalidParam(has_prompt ? "prompt" : "", "send exactly one of prompt and messages");
  }
  if (has_prompt) {
    TESSERA_OPENAI_ASSIGN_OR_RETURN(prompt, GetString(body, "prompt"));
    call.text = prompt.value_or("");
    call.add_special_tokens = add_special.value_or(true);
    return call;
  }
  if (tmpl == nullptr) {
    return InvalidParam("messages", "this model has no chat template: send prompt instead");
  }
  TESSERA_OPENAI_ASSIGN_OR_RETURN(request, ToTemplateRequest(body));
  if (const Json* tools = FindField(body, "tools"); tools != nullptr) {
    if (!tools->is_array()) {
      return InvalidParam("tools", absl::StrCat("tools must be an array, not ", TypeName(*tools)));
    }
    if (!tools->empty()) request.tools = *tools;
  }
  absl::StatusOr<std::string> text = tmpl->Apply(request);
  if (!text.ok()) {
    return InvalidParam("messages", absl::StrCat("the chat template failed: ",
                                                 std::string(text.status().message())));
  }
  call.text = *std::move(text);
  // The template holds BOS (vLLM's chat default).
  call.add_special_tokens = add_special.value_or(false);
  return call;
}

Json TokenizeResponseJson(const std::vector<int32_t>& tokens, int64_t max_model_len,
                          const std::optional<std::vector<std::string>>& token_strs) {
  Json out;
  out["count"] = tokens.size();
  out["max_model_len"] = max_model_len;
  out["tokens"] = tokens;
  out["token_strs"] = token_strs.has_value() ? Json(*token_strs) : Json(nullptr);
  return out;
}

absl::StatusOr<DetokenizeCall> ParseDetokenizeRequest(const Json& body) {
  if (!body.is_object()) return InvalidParam("", "the request body must be a JSON object");
  DetokenizeCall call;
  TESSERA_OPENAI_ASSIGN_OR_RETURN(model, GetString(body, "model"));
  call.model = model.value_or("");
  const Json* tokens = FindField(body, "tokens");
  if (tokens == nullptr) return InvalidParam("tokens", "tokens is required");
  if (!tokens->is_array()) {
    return InvalidParam(
        "tokens", absl::StrCat("tokens must be an array of token ids, not ", TypeName(*tokens)));
  }
  for (size_t i = 0; i < tokens->size(); ++i) {
    absl::StatusOr<int64_t> id = IntOf((*tokens)[i], absl::StrCat("tokens[", i, "]"), 0,
                                       std::numeric_limits<int32_t>::max());
    if (!id.ok()) return InvalidParam("tokens", std::string(id.status().message()));
    call.tokens.push_back(static_cast<int32_t>(*id));
  }
  return call;
}

Json DetokenizeResponseJson(const std::string& prompt) { return Json{{"prompt", prompt}}; }

}  // namespace tessera::openai
