// The JSON `tessera complete --json` prints for a collected generation:
//
//   {"request_id", "text", "token_ids", "finish_reason": "length" | "stop" | null,
//    "stop_string" (when one ended it), "logprobs", "samples" (n > 1: each sample's text,
//    token_ids, finish_reason, stop_string and logprobs; the top level repeats sample 0),
//    "prompt_logprobs", "usage": {"prompt_tokens", "completion_tokens", "queue_seconds",
//    "time_to_first_token_seconds", "e2e_seconds", "preemptions"}}
//
// Log-probability entries are {"token_id", "logprob", "token" (when known), "top": [...]}, as
// `tessera generate` writes them; "logprobs" and "prompt_logprobs" are null when not asked for
// and the first prompt position, which has no log-probability, is null.
#ifndef TESSERA_CLIENT_COMPLETE_JSON_H_
#define TESSERA_CLIENT_COMPLETE_JSON_H_

#include "client/client.h"
#include "nlohmann/json.hpp"

namespace tessera {

nlohmann::ordered_json GenerateOutputJson(const GenerateOutput& output);

}  // namespace tessera

#endif  // TESSERA_CLIENT_COMPLETE_JSON_H_
