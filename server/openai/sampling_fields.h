// The sampling fields completions and chat share (OpenAI's and vLLM's), read into a
// v1.GenerateRequest. Internal to tessera_openai.
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_SAMPLING_FIELDS_H_
#define TESSERA_SERVER_OPENAI_SAMPLING_FIELDS_H_

#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "tessera/v1/inference.pb.h"

namespace tessera::openai {

// n, temperature (default 1), top_p, presence/frequency_penalty, logit_bias, stop, seed, top_k,
// min_p, repetition_penalty, min_tokens, ignore_eos, stop_token_ids, skip_special_tokens,
// include_stop_str_in_output, prompt_logprobs. Not max_tokens or logprobs: their spelling
// differs between the two APIs.
absl::Status ReadSamplingFields(const nlohmann::ordered_json& body, v1::GenerateRequest* out);

// Whether ReadSamplingFields reads the field `name`.
bool IsSamplingField(std::string_view name);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_SAMPLING_FIELDS_H_
