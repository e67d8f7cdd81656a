#include "server/chat_setup.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

std::optional<std::string> ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every template source the model (or the flag) gives, joined: the tool-call style is detected
// from whichever teaches one.
std::string TemplateText(const std::filesystem::path& dir, const std::string& template_file) {
  if (!template_file.empty()) return ReadText(template_file).value_or("");
  if (auto jinja = ReadText(dir / "chat_template.jinja")) return *jinja;
  const std::optional<std::string> config = ReadText(dir / "tokenizer_config.json");
  if (!config.has_value()) return "";
  const nlohmann::json j = nlohmann::json::parse(*config, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("chat_template")) return "";
  const nlohmann::json& ct = j["chat_template"];
  if (ct.is_string()) return ct.get<std::string>();
  std::string all;
  if (ct.is_array()) {
    for (const auto& e : ct) {
      if (e.is_object() && e.contains("template") && e["template"].is_string()) {
        all += e["template"].get<std::string>();
      }
    }
  }
  return all;
}

}  // namespace

absl::StatusOr<ChatSetup> LoadChatSetup(const std::string& tokenizer_dir,
                                        const std::string& template_file,
                                        const std::string& tool_call_parser) {
  ChatSetup setup;
  std::filesystem::path dir = tokenizer_dir;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) dir = dir.parent_path();
  const bool has_config = std::filesystem::exists(dir / "tokenizer_config.json", ec);
  std::optional<std::string> file;
  if (!template_file.empty()) file = template_file;
  if (has_config) {
    absl::StatusOr<chat_template::ChatTemplate> t =
        chat_template::ChatTemplate::Load(dir.string(), file);
    if (t.ok()) {
      setup.chat_template = std::make_unique<chat_template::ChatTemplate>(*std::move(t));
    } else if (file.has_value() || !absl::IsNotFound(t.status())) {
      return absl::InvalidArgumentError(absl::StrCat("chat template: ", t.status().message()));
    }
  } else if (file.has_value()) {
    // No tokenizer_config.json to take special tokens from: the template alone.
    const std::optional<std::string> text = ReadText(*file);
    if (!text.has_value()) {
      return absl::NotFoundError(absl::StrCat("--chat-template ", *file, ": cannot be read"));
    }
    absl::StatusOr<chat_template::ChatTemplate> t =
        chat_template::ChatTemplate::Create({{"default", *text}}, nlohmann::ordered_json::object());
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--chat-template ", *file, ": ", t.status().message()));
    }
    setup.chat_template = std::make_unique<chat_template::ChatTemplate>(*std::move(t));
  }
  if (setup.chat_template != nullptr) {
    setup.source = file.has_value() ? *file : (dir / "tokenizer_config.json").string();
  }
  if (!tool_call_parser.empty()) {
    absl::StatusOr<openai::ToolCallStyle> style = openai::ToolCallStyleFromName(tool_call_parser);
    if (!style.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tool-call-parser: ", style.status().message()));
    }
    setup.tool_call_style = *style;
  } else if (setup.chat_template != nullptr) {
    setup.tool_call_style = openai::DetectToolCallStyle(TemplateText(dir, template_file));
  }
  return setup;
}

}  // namespace tessera
