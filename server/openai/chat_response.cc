#include "server/openai/chat_response.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::openai {
namespace {

using Json = nlohmann::ordered_json;

std::string TokenText(const v1::TokenLogprob& t) {
  return t.token().empty() ? absl::StrCat("token_id:", t.token_id()) : t.token();
}

// {"token", "logprob", "bytes"}: bytes are the token's UTF-8 (a token may be part of a
// character, which only the bytes show). -inf becomes -9999.0, as vLLM writes it (JSON has no
// infinity).
Json TokenEntry(const v1::TokenLogprob& t) {
  const std::string text = TokenText(t);
  Json entry;
  entry["token"] = text;
  entry["logprob"] = std::isfinite(t.logprob()) ? static_cast<double>(t.logprob()) : -9999.0;
  Json bytes = Json::array();
  for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
  entry["bytes"] = std::move(bytes);
  return entry;
}

Json ToolCallJson(const ToolCall& call) {
  Json j;
  j["id"] = call.id;
  j["type"] = "function";
  j["function"] = Json{{"name", call.name}, {"arguments", call.arguments_json}};
  return j;
}

Json FinishJson(v1::FinishReason reason, bool called_tools) {
  if (reason == v1::FINISH_REASON_UNSPECIFIED) return nullptr;
  return called_tools ? Json("tool_calls") : FinishReasonJson(reason);
}

}  // namespace

ChatResponseBuilder::ChatResponseBuilder(const ChatCall& call, ResponseHeader header)
    : call_(call), header_(std::move(header)) {
  choices_.resize(static_cast<size_t>(std::max(call_.n, 1)));
  if (call_.stream && call_.tools_given) {
    for (Choice& c : choices_) c.tools = std::make_unique<ToolCallStream>(call_.style);
  }
}

absl::Status ChatResponseBuilder::Check(const v1::GenerateResponse& message) const {
  for (const v1::SampleDelta& d : message.samples()) {
    if (d.index() < 0 || d.index() >= static_cast<int>(choices_.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("sample index ", d.index(), " is outside [0, ", choices_.size(), ")"));
    }
  }
  return absl::OkStatus();
}

void ChatResponseBuilder::Record(const v1::GenerateResponse& message) {
  if (message.has_usage()) {
    prompt_tokens_ = message.usage().prompt_tokens();
    completion_tokens_ = message.usage().completion_tokens();
    cached_prompt_tokens_ = message.usage().cached_prompt_tokens();
  }
}

Json ChatResponseBuilder::LogprobEntries(const v1::SampleDelta& delta) const {
  Json entries = Json::array();
  for (const v1::PositionLogprobs& lp : delta.logprobs()) {
    Json entry = TokenEntry(lp.chosen());
    Json top = Json::array();
    for (int i = 0; i < lp.top_size() && i < call_.top_logprobs; ++i) {
      top.push_back(TokenEntry(lp.top(i)));
    }
    entry["top_logprobs"] = std::move(top);
    entries.push_back(std::move(entry));
  }
  return entries;
}

Json ChatResponseBuilder::Apply(const v1::SampleDelta& delta) {
  Choice& choice = choices_[delta.index()];
  choice.text += delta.text();
  Json entries = call_.logprobs ? LogprobEntries(delta) : Json::array();
  for (const Json& e : entries) choice.logprobs.push_back(e);
  if (delta.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    choice.finish = delta.finish_reason();
    if (!delta.stop_string().empty()) {
      choice.stop_reason = delta.stop_string();
    } else if (delta.has_stop_token_id()) {
      choice.stop_reason = delta.stop_token_id();
    }
  }
  return entries;
}

absl::Status ChatResponseBuilder::Add(const v1::GenerateResponse& message) {
  if (absl::Status s = Check(message); !s.ok()) return s;
  Record(message);
  for (const v1::SampleDelta& d : message.samples()) Apply(d);
  return absl::OkStatus();
}

Json ChatResponseBuilder::Header(const char* object) const {
  Json j;
  j["id"] = header_.id;
  j["object"] = object;
  j["created"] = header_.created;
  j["model"] = header_.model;
  return j;
}

Json ChatResponseBuilder::Build() const {
  Json j = Header("chat.completion");
  j["choices"] = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    const std::string text = call_.echo_text + c.text;
    ParsedOutput parsed =
        call_.tools_given ? ParseToolCalls(call_.style, text) : ParsedOutput{text, {}};
    const bool called = !parsed.calls.empty();
    Json message;
    message["role"] = "assistant";
    message["content"] = called && parsed.content.empty() ? Json(nullptr) : Json(parsed.content);
    if (called) {
      message["tool_calls"] = Json::array();
      for (const ToolCall& call : parsed.calls) message["tool_calls"].push_back(ToolCallJson(call));
    }
    Json choice;
    choice["index"] = static_cast<int64_t>(i);
    choice["message"] = std::move(message);
    choice["logprobs"] = call_.logprobs ? Json{{"content", c.logprobs}} : Json(nullptr);
    choice["finish_reason"] = FinishJson(c.finish, called);
    choice["stop_reason"] = c.stop_reason;
    j["choices"].push_back(std::move(choice));
  }
  j["usage"] = UsageJson(prompt_tokens_, completion_tokens_, cached_prompt_tokens_);
  return j;
}

Json ChatResponseBuilder::Chunk(int index, Json delta, Json logprobs, Json finish_reason) const {
  Json choice;
  choice["index"] = index;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = std::move(finish_reason);
  Json chunk = Header("chat.completion.chunk");
  chunk["choices"] = Json::array({std::move(choice)});
  if (call_.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

Json ChatResponseBuilder::ToolCallDeltas(Choice* choice, std::vector<ToolCall> calls) const {
  Json deltas = Json::array();
  for (const ToolCall& call : calls) {
    Json d = ToolCallJson(call);
    d["index"] = choice->calls_sent++;
    deltas.push_back(std::move(d));
  }
  return deltas;
}

absl::StatusOr<std::vector<Json>> ChatResponseBuilder::StreamChunks(
    const v1::GenerateResponse& message) {
  if (absl::Status s = Check(message); !s.ok()) return s;
  Record(message);
  std::vector<Json> chunks;
  for (const v1::SampleDelta& d : message.samples()) {
    Choice& choice = choices_[d.index()];
    if (!choice.role_sent) {
      choice.role_sent = true;
      chunks.push_back(
          Chunk(d.index(), Json{{"role", "assistant"}, {"content", ""}}, nullptr, nullptr));
      if (!call_.echo_text.empty()) {
        chunks.push_back(Chunk(d.index(), Json{{"content", call_.echo_text}}, nullptr, nullptr));
      }
    }
    Json entries = Apply(d);
    std::string content = d.text();
    std::vector<ToolCall> calls;
    if (choice.tools != nullptr) {
      ToolCallStream::Delta out = choice.tools->Feed(d.text());
      if (choice.finish != v1::FINISH_REASON_UNSPECIFIED) {
        ToolCallStream::Delta rest = choice.tools->Finish();
        out.content += rest.content;
        for (ToolCall& c : rest.calls) out.calls.push_back(std::move(c));
      }
      content = std::move(out.content);
      calls = std::move(out.calls);
    }
    Json delta = Json::object();
    if (!content.empty()) delta["content"] = std::move(content);
    if (!calls.empty()) delta["tool_calls"] = ToolCallDeltas(&choice, std::move(calls));
    const bool finished = d.finish_reason() != v1::FINISH_REASON_UNSPECIFIED;
    if (delta.empty() && entries.empty() && !finished) continue;
    Json logprobs = call_.logprobs ? Json{{"content", std::move(entries)}} : Json(nullptr);
    chunks.push_back(Chunk(d.index(), std::move(delta), std::move(logprobs),
                           FinishJson(d.finish_reason(), choice.calls_sent > 0)));
  }
  return chunks;
}

std::vector<Json> ChatResponseBuilder::StreamEnd() const {
  if (!call_.include_usage) return {};
  Json chunk = Header("chat.completion.chunk");
  chunk["choices"] = Json::array();
  chunk["usage"] = UsageJson(prompt_tokens_, completion_tokens_, cached_prompt_tokens_);
  return {chunk};
}

}  // namespace tessera::openai
