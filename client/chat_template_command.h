// `tessera chat-template`: renders one chat request through a model's chat template, exactly as
// Hugging Face transformers' apply_chat_template(tokenize=False) would.
//
//   tessera chat-template --tokenizer-config FILE_OR_DIR [--chat-template FILE]
//                         [--now YYYY-MM-DDTHH:MM:SS] < request.json
//
// The request on stdin is one JSON object {messages, add_generation_prompt, tools, documents,
// kwargs, continue_final_message}. Prints {"prompt": "..."} and exits 0; when the template
// refuses the request with raise_exception(message), prints {"error": "message"} and exits 2;
// any other failure (unreadable files, bad request JSON, a template that does not parse, a
// sandbox limit) is named on stderr, with the template line where there is one, and exits 1.
#ifndef TESSERA_CLIENT_CHAT_TEMPLATE_COMMAND_H_
#define TESSERA_CLIENT_CHAT_TEMPLATE_COMMAND_H_

#include <iosfwd>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"

namespace tessera {

struct ChatTemplateCommandOptions {
  std::string tokenizer_config;              // tokenizer_config.json, or the directory holding it
  std::optional<std::string> chat_template;  // a template file replacing the model's
  std::optional<std::string> now;            // the clock strftime_now() reads
};

// Reads the request from `in`, writes the result to `out` and messages to `err`; returns the
// exit code.
int RunChatTemplate(const ChatTemplateCommandOptions& options, std::istream& in, std::ostream& out,
                    std::ostream& err);

void AddChatTemplateCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_CHAT_TEMPLATE_COMMAND_H_
