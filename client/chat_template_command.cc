#include "client/chat_template_command.h"

#include <iostream>
#include <iterator>
#include <memory>

#include "nlohmann/json.hpp"
#include "text/chat_template/chat_template.h"

namespace tessera {

int RunChatTemplate(const ChatTemplateCommandOptions& o, std::istream& in, std::ostream& out,
                    std::ostream& err) {
  namespace ct = chat_template;
  auto fail = [&err](std::string_view what, const absl::Status& s) {
    err << "tessera chat-template: " << what << s.message() << "\n";
    return 1;
  };
  const std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return fail("", absl::InvalidArgumentError("stdin: not a JSON object"));
  }
  absl::StatusOr<ct::ChatRequest> request = ct::ParseChatRequest(j);
  if (!request.ok()) return fail("stdin: ", request.status());
  if (o.now.has_value()) {
    absl::StatusOr<absl::CivilSecond> now = ct::ParseNow(*o.now);
    if (!now.ok()) return fail("--", now.status());
    request->now = *now;
  }
  absl::StatusOr<ct::ChatTemplate> tmpl =
      ct::ChatTemplate::Load(o.tokenizer_config, o.chat_template);
  if (!tmpl.ok()) return fail("", tmpl.status());
  absl::StatusOr<std::string> prompt = tmpl->Apply(*request);
  constexpr auto kReplace = nlohmann::ordered_json::error_handler_t::replace;
  if (!prompt.ok()) {
    if (!ct::IsRaisedByTemplate(prompt.status())) return fail("", prompt.status());
    nlohmann::ordered_json e;
    e["error"] = std::string(prompt.status().message());
    out << e.dump(-1, ' ', false, kReplace) << "\n";
    return 2;
  }
  nlohmann::ordered_json result;
  result["prompt"] = *prompt;
  out << result.dump(-1, ' ', false, kReplace) << "\n";
  return out.good() ? 0 : 1;
}

void AddChatTemplateCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<ChatTemplateCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "chat-template", "Render a chat request (JSON on stdin) through a model's chat template");
  cmd->add_option("--tokenizer-config", o->tokenizer_config,
                  "tokenizer_config.json, or the model directory holding it")
      ->required();
  cmd->add_option("--chat-template", o->chat_template,
                  "A Jinja template file used instead of the model's");
  cmd->add_option("--now", o->now, "The local time strftime_now() reads, YYYY-MM-DDTHH:MM:SS");
  cmd->callback(
      [o, exit_code] { *exit_code = RunChatTemplate(*o, std::cin, std::cout, std::cerr); });
}

}  // namespace tessera
