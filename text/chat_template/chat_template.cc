#include "text/chat_template/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "text/chat_template/py_string.h"

namespace tessera::chat_template {
namespace {

constexpr std::string_view kContinueTag = "CONTINUE_FINAL_MESSAGE_TAG ";
constexpr int kMaxJsonDepth = 256;

using Json = nlohmann::ordered_json;

// The converter to template values recurses; refuse input nested deeper than any chat needs.
bool TooDeep(const Json& root) {
  std::vector<std::pair<const Json*, int>> stack{{&root, 1}};
  while (!stack.empty()) {
    const auto [j, depth] = stack.back();
    stack.pop_back();
    if (depth > kMaxJsonDepth) return true;
    if (j->is_structured()) {
      for (const auto& child : *j) stack.emplace_back(&child, depth + 1);
    }
  }
  return false;
}

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A special token in tokenizer_config.json: a string or an AddedToken object {"content": ...}.
std::optional<Json> TokenText(const Json& j) {
  if (j.is_string()) return j;
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"];
  return std::nullopt;
}

}  // namespace

absl::StatusOr<absl::CivilSecond> ParseNow(std::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%S", std::string(text), absl::UTCTimeZone(), &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("now: \"", std::string(text), "\" is not YYYY-MM-DDTHH:MM:SS (", err, ")"));
  }
  return absl::ToCivilSecond(t, absl::UTCTimeZone());
}

absl::StatusOr<ChatRequest> ParseChatRequest(const Json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("the request must be a JSON object");
  if (TooDeep(j)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request is nested deeper than ", kMaxJsonDepth, " levels"));
  }
  ChatRequest r;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const Json& v = item.value();
    auto bad = [&key](std::string_view want) {
      return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" must be ", std::string(want)));
    };
    if (key == "messages") {
      if (!v.is_array()) return bad("a list of message objects");
      for (const auto& m : v) {
        if (!m.is_object()) return bad("a list of message objects");
      }
      r.messages = v;
    } else if (key == "tools" || key == "documents") {
      if (!v.is_null() && !v.is_array()) return bad("a list or null");
      (key == "tools" ? r.tools : r.documents) = v;
    } else if (key == "kwargs") {
      if (!v.is_null() && !v.is_object()) return bad("an object");
      if (v.is_object()) r.kwargs = v;
    } else if (key == "add_generation_prompt" || key == "continue_final_message") {
      if (!v.is_boolean()) return bad("true or false");
      (key == "add_generation_prompt" ? r.add_generation_prompt : r.continue_final_message) =
          v.get<bool>();
    } else if (key == "now") {
      if (!v.is_string()) return bad("a string YYYY-MM-DDTHH:MM:SS");
      absl::StatusOr<absl::CivilSecond> now = ParseNow(v.get<std::string>());
      if (!now.ok()) return now.status();
      r.now = *now;
    } else if (key != "name" && key != "expected" && key != "error") {
      return absl::InvalidArgumentError(absl::StrCat("unknown field \"", key, "\""));
    }
  }
  return r;
}

absl::StatusOr<ChatTemplate> ChatTemplate::Create(
    const std::vector<std::pair<std::string, std::string>>& templates, Json special_tokens,
    const SandboxLimits& limits) {
  if (templates.empty()) return absl::NotFoundError("the model has no chat template");
  std::vector<Named> parsed;
  for (const auto& [name, source] : templates) {
    absl::StatusOr<Template> t = Template::Parse(source, limits);
    if (!t.ok()) {
      if (templates.size() == 1) return t.status();
      return absl::Status(t.status().code(),
                          absl::StrCat("template \"", name, "\": ", t.status().message()));
    }
    parsed.push_back(Named{name, *std::move(t)});
  }
  Dict tokens;
  if (special_tokens.is_object()) {
    for (const auto& [k, v] : special_tokens.items()) tokens.Set(k, FromJson(v));
  }
  return ChatTemplate(std::move(parsed), std::move(tokens), limits);
}

absl::StatusOr<ChatTemplate> ChatTemplate::Load(const std::string& tokenizer_config,
                                                const std::optional<std::string>& template_file,
                                                const SandboxLimits& limits) {
  std::filesystem::path config_path = tokenizer_config;
  std::error_code ec;
  if (std::filesystem::is_directory(config_path, ec)) config_path /= "tokenizer_config.json";
  absl::StatusOr<std::string> text = ReadFile(config_path);
  if (!text.ok()) return text.status();
  const Json config = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path.string(), " is not a JSON object"));
  }

  // Special tokens: those tokenizer_config.json sets; special_tokens_map.json beside it fills in
  // the rest, as transformers merges them.
  Json special = Json::object();
  auto collect = [&special](const Json& from) {
    for (const char* name : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                             "cls_token", "mask_token"}) {
      if (special.contains(name) || !from.contains(name)) continue;
      if (std::optional<Json> t = TokenText(from[name])) special[name] = *t;
    }
    if (!special.contains("additional_special_tokens") &&
        from.contains("additional_special_tokens") &&
        from["additional_special_tokens"].is_array()) {
      Json list = Json::array();
      for (const auto& t : from["additional_special_tokens"]) {
        if (std::optional<Json> s = TokenText(t)) list.push_back(*s);
      }
      special["additional_special_tokens"] = list;
    }
  };
  collect(config);
  const std::filesystem::path map_path = config_path.parent_path() / "special_tokens_map.json";
  if (std::filesystem::exists(map_path, ec)) {
    absl::StatusOr<std::string> map_text = ReadFile(map_path);
    if (map_text.ok()) {
      const Json map = Json::parse(*map_text, nullptr, /*allow_exceptions=*/false);
      if (map.is_object()) collect(map);
    }
  }

  std::vector<std::pair<std::string, std::string>> templates;
  const std::filesystem::path jinja_path = config_path.parent_path() / "chat_template.jinja";
  if (template_file.has_value()) {
    absl::StatusOr<std::string> t = ReadFile(*template_file);
    if (!t.ok()) return t.status();
    templates.emplace_back("default", *std::move(t));
  } else if (std::filesystem::exists(jinja_path, ec)) {
    absl::StatusOr<std::string> t = ReadFile(jinja_path);
    if (!t.ok()) return t.status();
    templates.emplace_back("default", *std::move(t));
  } else if (config.contains("chat_template")) {
    const Json& ct = config["chat_template"];
    if (ct.is_string()) {
      templates.emplace_back("default", ct.get<std::string>());
    } else if (ct.is_array()) {
      for (const auto& entry : ct) {
        if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
            !entry.contains("template") || !entry["template"].is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(
              config_path.string(),
              ": chat_template list entries must be {\"name\": ..., \"template\": ...}"));
        }
        templates.emplace_back(entry["name"].get<std::string>(),
                               entry["template"].get<std::string>());
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          config_path.string(), ": chat_template must be a string or a list of named templates"));
    }
  }
  if (templates.empty()) {
    return absl::NotFoundError(absl::StrCat(
        config_path.string(),
        " has no chat_template, and there is no chat_template.jinja beside it; give one with "
        "--chat-template"));
  }
  return Create(templates, std::move(special), limits);
}

absl::StatusOr<const Template*> ChatTemplate::Select(bool has_tools) const {
  if (templates_.size() == 1 && templates_[0].name == "default") return &templates_[0].tmpl;
  const Template* fallback = nullptr;
  for (const Named& n : templates_) {
    if (has_tools && n.name == "tool_use") return &n.tmpl;
    if (n.name == "default") fallback = &n.tmpl;
  }
  if (fallback != nullptr) return fallback;
  std::vector<std::string> names;
  for (const Named& n : templates_) names.push_back(absl::StrCat("'", n.name, "'"));
  std::sort(names.begin(), names.end());
  return absl::InvalidArgumentError(absl::StrCat(
      "This model has multiple chat templates with no default specified! Available template "
      "names are [",
      absl::StrJoin(names, ", "), "]."));
}

absl::StatusOr<std::string> ChatTemplate::Apply(const ChatRequest& request) const {
  for (const Json* part :
       {&request.messages, &request.tools, &request.documents, &request.kwargs}) {
    if (TooDeep(*part)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the request is nested deeper than ", kMaxJsonDepth, " levels"));
    }
  }
  absl::StatusOr<const Template*> tmpl = Select(!request.tools.is_null());
  if (!tmpl.ok()) return tmpl.status();
  if (request.continue_final_message && request.add_generation_prompt) {
    return absl::InvalidArgumentError(
        "continue_final_message and add_generation_prompt are not compatible. Use "
        "continue_final_message when you want the model to continue the final message, and "
        "add_generation_prompt when you want to add a header that will prompt it to start a new "
        "assistant message instead.");
  }
  Json messages = request.messages;
  if (request.continue_final_message) {
    // transformers marks the end of the final message, renders, and cuts at the mark.
    if (messages.empty()) {
      return absl::InvalidArgumentError("continue_final_message needs at least one message");
    }
    Json& content = messages.back()["content"];
    bool marked = false;
    if (content.is_string()) {
      content = content.get<std::string>() + std::string(kContinueTag);
      marked = true;
    } else if (content.is_array()) {
      for (auto it = content.rbegin(); it != content.rend() && !marked; ++it) {
        if (it->is_object() && it->contains("text") && (*it)["text"].is_string()) {
          (*it)["text"] = (*it)["text"].get<std::string>() + std::string(kContinueTag);
          marked = true;
        }
      }
    }
    if (!marked) {
      return absl::InvalidArgumentError(
          "continue_final_message is set but the final message has no text to continue");
    }
  }

  Dict vars = special_tokens_;
  for (const auto& [k, v] : request.kwargs.items()) vars.Set(k, FromJson(v));
  vars.Set("messages", FromJson(messages));
  vars.Set("tools", FromJson(request.tools));
  vars.Set("documents", FromJson(request.documents));
  vars.Set("add_generation_prompt", Value::Bool(request.add_generation_prompt));

  RenderOptions options;
  options.limits = limits_;
  options.now = request.now;
  absl::StatusOr<std::string> prompt = (*tmpl)->Render(vars, options);
  if (!prompt.ok() || !request.continue_final_message) return prompt;

  const std::string_view tag = kContinueTag.substr(0, kContinueTag.size() - 1);
  const size_t at = prompt->rfind(tag);
  if (at == std::string::npos) {
    return absl::InvalidArgumentError(
        "continue_final_message is set but the final message does not appear in the chat after "
        "applying the chat template! This can happen if the chat template deletes portions of "
        "the final message. Please verify the chat template and final message in your chat to "
        "ensure they are compatible.");
  }
  const bool space_kept = at + tag.size() < prompt->size() && (*prompt)[at + tag.size()] == ' ';
  std::string cut = prompt->substr(0, at);
  if (!space_kept) cut = PyStrip(cut, std::nullopt, StripSide::kRight);
  return cut;
}

}  // namespace tessera::chat_template
