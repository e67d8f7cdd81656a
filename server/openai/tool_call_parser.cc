#include "server/openai/tool_call_parser.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/openai/response_common.h"

namespace tessera::openai {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

size_t SkipSpace(std::string_view text, size_t i) {
  while (i < text.size() && IsSpace(text[i])) ++i;
  return i;
}

std::string_view Trim(std::string_view text) {
  const size_t begin = SkipSpace(text, 0);
  size_t end = text.size();
  while (end > begin && IsSpace(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

bool AllSpace(std::string_view text) { return SkipSpace(text, 0) == text.size(); }

// llama3_json: the whole output is calls ('{...}' separated by ';', after an optional
// <|python_tag|>), or it is all content.
ParsedOutput ParseLlama3(std::string_view text) {
  ParsedOutput out;
  size_t i = SkipSpace(text, 0);
  if (text.substr(i).starts_with(kPythonTag)) i = SkipSpace(text, i + kPythonTag.size());
  std::vector<ToolCall> calls;
  while (i < text.size() && text[i] == '{') {
    const size_t end = JsonObjectEnd(text, i);
    if (end == std::string_view::npos) break;
    std::optional<ToolCall> call =
        ReadCallJson(text.substr(i, end - i), ToolCallStyle::kLlama3Json);
    if (!call.has_value()) break;
    calls.push_back(*std::move(call));
    i = SkipSpace(text, end);
    if (i < text.size() && text[i] == ';') i = SkipSpace(text, i + 1);
  }
  if (calls.empty() || i != text.size()) {
    out.content = std::string(text);
    return out;
  }
  out.calls = std::move(calls);
  return out;
}

// hermes: each <tool_call>...</tool_call> that holds a valid call becomes one; the rest of the
// text (malformed blocks included) is content. A last block the output ended inside counts
// when its JSON is whole (the model stopped before the closing tag).
ParsedOutput ParseHermes(std::string_view text) {
  ParsedOutput out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find(kHermesOpen, i);
    if (open == std::string_view::npos) break;
    const size_t body = open + kHermesOpen.size();
    size_t close = text.find(kHermesClose, body);
    const size_t block_end =
        close == std::string_view::npos ? text.size() : close + kHermesClose.size();
    if (close == std::string_view::npos) close = text.size();
    std::optional<ToolCall> call =
        ReadCallJson(Trim(text.substr(body, close - body)), ToolCallStyle::kHermes);
    out.content.append(text.substr(i, open - i));
    if (call.has_value()) {
      out.calls.push_back(*std::move(call));
    } else {
      out.content.append(text.substr(open, block_end - open));
    }
    i = block_end;
  }
  if (i < text.size()) out.content.append(text.substr(i));
  if (!out.calls.empty() && AllSpace(out.content)) out.content.clear();
  return out;
}

}  // namespace

std::string_view ToolCallStyleName(ToolCallStyle style) {
  switch (style) {
    case ToolCallStyle::kLlama3Json:
      return "llama3_json";
    case ToolCallStyle::kHermes:
      return "hermes";
    case ToolCallStyle::kNone:
      break;
  }
  return "none";
}

absl::StatusOr<ToolCallStyle> ToolCallStyleFromName(std::string_view name) {
  for (ToolCallStyle s :
       {ToolCallStyle::kNone, ToolCallStyle::kLlama3Json, ToolCallStyle::kHermes}) {
    if (ToolCallStyleName(s) == name) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown tool-call parser \"", std::string(name),
                                                 "\"; known: none, llama3_json, hermes"));
}

ToolCallStyle DetectToolCallStyle(std::string_view template_source) {
  if (template_source.find(kHermesOpen) != std::string_view::npos) return ToolCallStyle::kHermes;
  if (template_source.find("\"parameters\"") != std::string_view::npos &&
      template_source.find("\"name\"") != std::string_view::npos) {
    return ToolCallStyle::kLlama3Json;
  }
  return ToolCallStyle::kNone;
}

size_t JsonObjectEnd(std::string_view text, size_t start) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

std::optional<ToolCall> ReadCallJson(std::string_view json, ToolCallStyle style) {
  nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return std::nullopt;
  }
  auto args = j.find(style == ToolCallStyle::kLlama3Json ? "parameters" : "arguments");
  if (args == j.end()) args = j.find("arguments");
  if (args == j.end()) return std::nullopt;
  ToolCall call;
  call.name = name->get<std::string>();
  if (args->is_object()) {
    call.arguments_json = args->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else if (args->is_string()) {
    // Some models write the arguments as a JSON string of the object.
    nlohmann::json inner = nlohmann::json::parse(args->get_ref<const std::string&>(), nullptr,
                                                 /*allow_exceptions=*/false);
    if (!inner.is_object()) return std::nullopt;
    call.arguments_json = inner.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    return std::nullopt;
  }
  call.id = NewResponseId("chatcmpl-tool-");
  return call;
}

ParsedOutput ParseToolCalls(ToolCallStyle style, std::string_view text) {
  switch (style) {
    case ToolCallStyle::kLlama3Json:
      return ParseLlama3(text);
    case ToolCallStyle::kHermes:
      return ParseHermes(text);
    case ToolCallStyle::kNone:
      break;
  }
  return ParsedOutput{std::string(text), {}};
}

}  // namespace tessera::openai
