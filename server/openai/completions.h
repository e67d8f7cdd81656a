// POST /v1/completions request bodies -> tessera.v1.GenerateRequest messages, one per prompt.
//
// Fields (OpenAI's and vLLM's extensions): model, prompt (a string, a list of token ids, or a
// list of either), n, max_tokens (default 16, OpenAI's), temperature (default 1, OpenAI's: set
// explicitly because the proto's unset temperature is greedy), top_p, presence_penalty,
// frequency_penalty, logit_bias (string token ids -> bias), stop (a string or a list), seed,
// logprobs (0..20), echo, stream, stream_options.include_usage, user; vLLM's top_k, min_p,
// repetition_penalty, min_tokens, ignore_eos, stop_token_ids, skip_special_tokens,
// include_stop_str_in_output, prompt_logprobs, add_special_tokens.
//
// A field of the wrong type or out of range fails with InvalidArgument naming it (the OpenAI
// param, see openai_error.h). Fields this parser does not know are ignored, as vLLM ignores
// them (it only logs them): clients send fields of newer API versions, and a refusal would
// break them; ranges the model decides (context length, vocabulary) are the daemon's checks.
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_COMPLETIONS_H_
#define TESSERA_SERVER_OPENAI_COMPLETIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "tessera/v1/inference.pb.h"

namespace tessera::openai {

struct CompletionCall {
  std::string model;  // the base model's served name or an adapter's (the caller resolves it)
  // One per prompt, in order, with every sampling field set; adapter and request_id left empty.
  std::vector<v1::GenerateRequest> requests;
  int n = 1;  // samples per prompt
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;
  int logprobs = 0;  // top alternatives per token (0..20)
  // logprobs was given (even 0: the chosen tokens' log-probabilities without alternatives).
  bool logprobs_requested = false;
  std::string user;
  // Top-level fields the parser does not know and ignored, for the caller to log (vLLM logs them).
  std::vector<std::string> ignored_fields;
};

absl::StatusOr<CompletionCall> ParseCompletionRequest(const nlohmann::ordered_json& body);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_COMPLETIONS_H_
