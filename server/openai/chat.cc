#include "server/openai/chat.h"

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

// A message's content as the template sees it: a string (null: empty), or text parts joined
// with "\n" as vLLM joins them.
absl::StatusOr<std::string> ContentText(const Json& content, const std::string& where) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) {
    return InvalidParam("messages", absl::StrCat(where,
                                                 " must be a string or an array of content "
                                                 "parts, not ",
                                                 TypeName(content)));
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string at = absl::StrCat(where, "[", i, "]");
    if (!part.is_object()) {
      return InvalidParam("messages", absl::StrCat(at, " must be an object, not ", TypeName(part)));
    }
    const std::string type = part.contains("type") && part["type"].is_string()
                                 ? part["type"].get<std::string>()
                                 : std::string();
    if (type != "text") {
      return InvalidParam("messages", absl::StrCat(at, " has type \"", type,
                                                   "\"; only \"text\" parts are supported"));
    }
    const Json* t = FindField(part, "text");
    if (t == nullptr || !t->is_string()) {
      return InvalidParam("messages", absl::StrCat(at, ".text must be a string"));
    }
    if (i > 0) text += '\n';
    text += t->get_ref<const std::string&>();
  }
  return text;
}

// An assistant's tool_calls, with each function.arguments JSON string made an object (the
// templates index into it and render it with tojson).
absl::StatusOr<Json> ToolCallsForTemplate(const Json& calls, const std::string& where) {
  if (!calls.is_array()) {
    return InvalidParam("messages",
                        absl::StrCat(where, " must be an array, not ", TypeName(calls)));
  }
  Json out = calls;
  for (size_t i = 0; i < out.size(); ++i) {
    Json& call = out[i];
    const std::string at = absl::StrCat(where, "[", i, "]");
    if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
      return InvalidParam("messages", absl::StrCat(at, " must be an object with a \"function\""));
    }
    Json& fn = call["function"];
    if (!fn.contains("name") || !fn["name"].is_string()) {
      return InvalidParam("messages", absl::StrCat(at, ".function.name must be a string"));
    }
    if (fn.contains("arguments") && fn["arguments"].is_string()) {
      Json args = Json::parse(fn["arguments"].get_ref<const std::string&>(), nullptr,
                              /*allow_exceptions=*/false);
      if (args.is_discarded()) {
        return InvalidParam("messages", absl::StrCat(at, ".function.arguments is not valid JSON"));
      }
      fn["arguments"] = std::move(args);
    }
  }
  return out;
}

absl::StatusOr<Json> MessageForTemplate(const Json& m, size_t index) {
  const std::string where = absl::StrCat("messages[", index, "]");
  if (!m.is_object()) {
    return InvalidParam("messages", absl::StrCat(where, " must be an object, not ", TypeName(m)));
  }
  const Json* role = FindField(m, "role");
  if (role == nullptr || !role->is_string()) {
    return InvalidParam("messages", absl::StrCat(where, ".role must be a string"));
  }
  Json out = Json::object();
  out["role"] = *role;
  const Json* content = FindField(m, "content");
  TESSERA_OPENAI_ASSIGN_OR_RETURN(
      text, ContentText(content == nullptr ? Json(nullptr) : *content, where + ".content"));
  out["content"] = std::move(text);
  if (const Json* calls = FindField(m, "tool_calls"); calls != nullptr && *role == "assistant") {
    TESSERA_OPENAI_ASSIGN_OR_RETURN(c, ToolCallsForTemplate(*calls, where + ".tool_calls"));
    out["tool_calls"] = std::move(c);
  }
  if (const Json* id = FindField(m, "tool_call_id"); id != nullptr && *role == "tool") {
    if (!id->is_string()) {
      return InvalidParam("messages", absl::StrCat(where, ".tool_call_id must be a string"));
    }
    out["tool_call_id"] = *id;
  }
  if (const Json* name = FindField(m, "name"); name != nullptr && name->is_string()) {
    out["name"] = *name;
  }
  return out;
}

// tools and tool_choice -> the template's tools (null: none) and whether to parse calls.
absl::Status ReadTools(const Json& body, chat_template::ChatRequest* request, bool* tools_given) {
  *tools_given = false;
  const Json* tools = FindField(body, "tools");
  const Json* choice = FindField(body, "tool_choice");
  if (choice != nullptr) {
    const bool none_or_auto = choice->is_string() && (*choice == "none" || *choice == "auto");
    if (!none_or_auto) {
      // "required" and a named function need decoding constrained to the call's schema.
      return InvalidParam("tool_choice",
                          "tool_choice must be \"none\" or \"auto\" (\"required\" and named "
                          "functions need guided decoding, which tessera does not implement)");
    }
  }
  if (tools == nullptr) return absl::OkStatus();
  if (!tools->is_array()) {
    return InvalidParam("tools", absl::StrCat("tools must be an array, not ", TypeName(*tools)));
  }
  for (size_t i = 0; i < tools->size(); ++i) {
    const Json& t = (*tools)[i];
    if (!t.is_object() || !t.contains("function") || !t["function"].is_object() ||
        !t["function"].contains("name") || !t["function"]["name"].is_string()) {
      return InvalidParam("tools", absl::StrCat("tools[", i,
                                                "] must be {\"type\": \"function\", "
                                                "\"function\": {\"name\": ...}}"));
    }
  }
  if (tools->empty() || (choice != nullptr && *choice == "none")) return absl::OkStatus();
  request->tools = *tools;
  *tools_given = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<chat_template::ChatRequest> ToTemplateRequest(const Json& body) {
  chat_template::ChatRequest request;
  const Json* messages = FindField(body, "messages");
  if (messages == nullptr) return InvalidParam("messages", "messages is required");
  if (!messages->is_array()) {
    return InvalidParam("messages",
                        absl::StrCat("messages must be an array, not ", TypeName(*messages)));
  }
  if (messages->empty()) return InvalidParam("messages", "messages is empty");
  for (size_t i = 0; i < messages->size(); ++i) {
    TESSERA_OPENAI_ASSIGN_OR_RETURN(m, MessageForTemplate((*messages)[i], i));
    request.messages.push_back(std::move(m));
  }
  if (const Json* kwargs = FindField(body, "chat_template_kwargs"); kwargs != nullptr) {
    if (!kwargs->is_object()) {
      return InvalidParam("chat_template_kwargs", absl::StrCat("chat_template_kwargs must be an "
                                                               "object, not ",
                                                               TypeName(*kwargs)));
    }
    request.kwargs = *kwargs;
  }
  if (const Json* documents = FindField(body, "documents"); documents != nullptr) {
    if (!documents->is_array()) {
      return InvalidParam("documents",
                          absl::StrCat("documents must be an array, not ", TypeName(*documents)));
    }
    request.documents = *documents;
  }
  TESSERA_OPENAI_ASSIGN_OR_RETURN(add_generation_prompt, GetBool(body, "add_generation_prompt"));
  request.add_generation_prompt = add_generation_prompt.value_or(true);
  TESSERA_OPENAI_ASSIGN_OR_RETURN(continue_final, GetBool(body, "continue_final_message"));
  request.continue_final_message = continue_final.value_or(false);
  if (request.continue_final_message && request.add_generation_prompt) {
    return InvalidParam("continue_final_message",
                        "continue_final_message and add_generation_prompt cannot both be true "
                        "(set add_generation_prompt to false to continue the last message)");
  }
  return request;
}

absl::StatusOr<ChatCall> ParseChatRequest(const Json& body, const chat_template::ChatTemplate& tmpl,
                                          ToolCallStyle style) {
  if (!body.is_object()) return InvalidParam("", "the request body must be a JSON object");
  ChatCall call;
  TESSERA_OPENAI_ASSIGN_OR_RETURN(model, GetString(body, "model"));
  call.model = model.value_or("");
  const Json* format = FindField(body, "response_format");
  if (format != nullptr &&
      !(format->is_object() && format->contains("type") && (*format)["type"] == "text")) {
    return InvalidParam("response_format",
                        "response_format other than {\"type\": \"text\"} is not supported "
                        "(tessera has no guided decoding)");
  }
  TESSERA_OPENAI_ASSIGN_OR_RETURN(request, ToTemplateRequest(body));
  if (absl::Status s = ReadTools(body, &request, &call.tools_given); !s.ok()) return s;
  if (call.tools_given) call.style = style;

  v1::GenerateRequest& r = call.request;
  if (absl::Status s = ReadSamplingFields(body, &r); !s.ok()) return s;
  call.n = r.has_n() ? r.n() : 1;
  // max_completion_tokens is OpenAI's newer name; it wins when both are given, as in vLLM.
  TESSERA_OPENAI_ASSIGN_OR_RETURN(max_completion,
                                  GetInt(body, "max_completion_tokens", 1, kInt32Max));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(max_tokens, GetInt(body, "max_tokens", 1, kInt32Max));
  if (max_completion || max_tokens) {
    r.set_max_tokens(static_cast<int32_t>(max_completion ? *max_completion : *max_tokens));
    call.max_tokens_given = true;
  }
  TESSERA_OPENAI_ASSIGN_OR_RETURN(logprobs, GetBool(body, "logprobs"));
  call.logprobs = logprobs.value_or(false);
  TESSERA_OPENAI_ASSIGN_OR_RETURN(top_logprobs, GetInt(body, "top_logprobs", 0, 20));
  if (top_logprobs && !call.logprobs && *top_logprobs > 0) {
    return InvalidParam("top_logprobs", "top_logprobs needs logprobs set to true");
  }
  call.top_logprobs = static_cast<int>(top_logprobs.value_or(0));
  // The daemon's 0 means none: ask for at least one to get the chosen tokens'.
  if (call.logprobs) r.set_logprobs(std::max(call.top_logprobs, 1));
  // The template holds BOS; vLLM's chat default.
  TESSERA_OPENAI_ASSIGN_OR_RETURN(add_special, GetBool(body, "add_special_tokens"));
  r.set_add_special_tokens(add_special.value_or(false));

  if (absl::Status s = ReadStreamFields(body, &call.stream, &call.include_usage); !s.ok()) return s;
  TESSERA_OPENAI_ASSIGN_OR_RETURN(echo, GetBool(body, "echo"));
  call.echo = echo.value_or(false);
  if (call.echo && !request.messages.empty() && request.messages.back()["role"] == "assistant") {
    call.echo_text = request.messages.back()["content"].get<std::string>();
  }
  TESSERA_OPENAI_ASSIGN_OR_RETURN(user, GetString(body, "user"));
  call.user = user.value_or("");

  absl::StatusOr<std::string> prompt = tmpl.Apply(request);
  if (!prompt.ok()) {
    return InvalidParam("messages", absl::StrCat("the chat template failed: ",
                                                 std::string(prompt.status().message())));
  }
  r.set_text(*std::move(prompt));
  // vLLM's priority and request_id are known and ignored: the daemon has its own.
  // clang-format off
  call.ignored_fields = UnknownFields(body, {
      "model", "messages", "max_tokens", "max_completion_tokens", "logprobs", "top_logprobs",
      "echo", "stream", "stream_options", "user", "add_special_tokens", "response_format", "tools",
      "tool_choice", "parallel_tool_calls", "chat_template_kwargs", "add_generation_prompt",
      "continue_final_message", "documents", "priority", "request_id"}, IsSamplingField);
  // clang-format on
  return call;
}

}  // namespace tessera::openai
