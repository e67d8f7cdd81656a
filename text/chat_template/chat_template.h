// ChatTemplate: a model's chat template(s) and special tokens, applied to chat messages exactly
// as Hugging Face transformers' apply_chat_template(tokenize=False) applies them.
//
// Template sources, in transformers' order: a file given explicitly; else chat_template.jinja
// beside tokenizer_config.json; else tokenizer_config.json's "chat_template", a string or a list
// of {"name", "template"}. With several named templates, "tool_use" is picked when tools are
// given and it exists, else "default".
//
// Variables a template sees: every special token (bos_token, eos_token, ...), then the request's
// kwargs (overriding a special token of the same name), then messages, tools, documents (none
// when not given, but always defined) and add_generation_prompt.
//
// Immutable after Load; Apply may run on many threads at once.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_CHAT_TEMPLATE_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "text/chat_template/template.h"

namespace tessera::chat_template {

// One apply_chat_template call.
struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;      // null: none given
  nlohmann::ordered_json documents;  // null: none given
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();
  bool add_generation_prompt = false;
  // Render the last message open, for the model to continue it.
  bool continue_final_message = false;
  // The local time strftime_now() reads ("now" in a fixture case); the clock when unset.
  std::optional<absl::CivilSecond> now;
};

// {messages, add_generation_prompt, tools, documents, kwargs, continue_final_message, now}; the
// fixture annotations name/expected/error are ignored, any other key is refused.
absl::StatusOr<ChatRequest> ParseChatRequest(const nlohmann::ordered_json& j);

// "YYYY-MM-DDTHH:MM:SS".
absl::StatusOr<absl::CivilSecond> ParseNow(std::string_view text);

class ChatTemplate {
 public:
  // templates: (name, source) pairs, selected by name as above (a model's single template is
  // "default"). special_tokens: an object of name -> string (or list of strings).
  static absl::StatusOr<ChatTemplate> Create(
      const std::vector<std::pair<std::string, std::string>>& templates,
      nlohmann::ordered_json special_tokens, const SandboxLimits& limits = SandboxLimits());

  // tokenizer_config.json (or the directory holding it), and optionally a template file that
  // replaces the model's templates.
  static absl::StatusOr<ChatTemplate> Load(const std::string& tokenizer_config,
                                           const std::optional<std::string>& template_file,
                                           const SandboxLimits& limits = SandboxLimits());

  // The prompt text; errors as Template::Render (IsRaisedByTemplate for raise_exception), and
  // InvalidArgument for a request transformers refuses.
  absl::StatusOr<std::string> Apply(const ChatRequest& request) const;

 private:
  struct Named {
    std::string name;
    Template tmpl;
  };

  ChatTemplate(std::vector<Named> templates, Dict special_tokens, SandboxLimits limits)
      : templates_(std::move(templates)),
        special_tokens_(std::move(special_tokens)),
        limits_(limits) {}

  absl::StatusOr<const Template*> Select(bool has_tools) const;

  std::vector<Named> templates_;
  Dict special_tokens_;
  SandboxLimits limits_;
};

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
