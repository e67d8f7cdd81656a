// Pieces both OpenAI response builders share: ids, the usage object, finish reasons.
//
// Stateless (ids draw from a thread-safe random source); thread-safe.
#ifndef TESSERA_SERVER_OPENAI_RESPONSE_COMMON_H_
#define TESSERA_SERVER_OPENAI_RESPONSE_COMMON_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "tessera/v1/inference.pb.h"

namespace tessera::openai {

// `prefix` + 32 random hex digits, e.g. "cmpl-3f2a...", "chatcmpl-...", "chatcmpl-tool-...".
std::string NewResponseId(std::string_view prefix);

// Seconds since the Unix epoch, for `created`.
int64_t UnixSecondsNow();

// {"prompt_tokens", "total_tokens", "completion_tokens", "prompt_tokens_details":
// {"cached_tokens"}}: OpenAI's shape; cached tokens are the prompt tokens the prefix cache
// supplied.
nlohmann::ordered_json UsageJson(int64_t prompt_tokens, int64_t completion_tokens,
                                 int64_t cached_prompt_tokens);

// "stop" / "length"; null while unfinished.
nlohmann::ordered_json FinishReasonJson(v1::FinishReason reason);

// What every response names: its id, creation time and the model the request asked for.
struct ResponseHeader {
  std::string id;
  int64_t created = 0;
  std::string model;
};

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_RESPONSE_COMMON_H_
