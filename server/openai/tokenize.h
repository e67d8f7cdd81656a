// POST /tokenize and POST /detokenize bodies, as vLLM shapes them.
//   /tokenize   {model?, prompt, add_special_tokens (default true)} or {model?, messages,
//               add_generation_prompt (default true), continue_final_message, chat_template_kwargs,
//               add_special_tokens (default false: the template holds BOS)}
//               -> {"count", "max_model_len", "tokens", "token_strs"}
//   /detokenize {model?, tokens} -> {"prompt"}
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_TOKENIZE_H_
#define TESSERA_SERVER_OPENAI_TOKENIZE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "text/chat_template/chat_template.h"

namespace tessera::openai {

struct TokenizeCall {
  std::string model;  // empty: not given
  std::string text;   // the prompt, or the messages rendered by the template
  bool add_special_tokens = true;
  bool return_token_strs = false;
};

// `tmpl` may be null (a model without a chat template): `messages` then fails with
// InvalidArgument saying so.
absl::StatusOr<TokenizeCall> ParseTokenizeRequest(const nlohmann::ordered_json& body,
                                                  const chat_template::ChatTemplate* tmpl);

// `token_strs`, when given (return_token_strs), is one string per token.
nlohmann::ordered_json TokenizeResponseJson(
    const std::vector<int32_t>& tokens, int64_t max_model_len,
    const std::optional<std::vector<std::string>>& token_strs = std::nullopt);

struct DetokenizeCall {
  std::string model;
  std::vector<int32_t> tokens;
};

absl::StatusOr<DetokenizeCall> ParseDetokenizeRequest(const nlohmann::ordered_json& body);

nlohmann::ordered_json DetokenizeResponseJson(const std::string& prompt);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_TOKENIZE_H_
