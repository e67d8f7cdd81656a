// The served model's chat template and tool-call format, as tesserad's flags pick them:
// --chat-template FILE (else the model's chat_template.jinja or tokenizer_config.json
// chat_template, in transformers' order) and --tool-call-parser llama3_json|hermes (vLLM's names;
// else detected from the template's text).
//
// Stateless function; the result is immutable.
#ifndef TESSERA_SERVER_CHAT_SETUP_H_
#define TESSERA_SERVER_CHAT_SETUP_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/openai/tool_call_parser.h"
#include "text/chat_template/chat_template.h"

namespace tessera {

struct ChatSetup {
  std::unique_ptr<chat_template::ChatTemplate> chat_template;  // null: the model has none
  openai::ToolCallStyle tool_call_style = openai::ToolCallStyle::kNone;
  std::string source;  // where the template came from, for the log
};

// `tokenizer_dir`: the folder holding tokenizer_config.json (it may have none). A model without
// any template is not an error (chat is then refused per request); a --chat-template file that
// does not load, or an unknown parser name, is (InvalidArgument / NotFound naming the file).
absl::StatusOr<ChatSetup> LoadChatSetup(const std::string& tokenizer_dir,
                                        const std::string& template_file,
                                        const std::string& tool_call_parser);

}  // namespace tessera

#endif  // TESSERA_SERVER_CHAT_SETUP_H_
