// A generation request and its result, as the scheduler sees them (native types; the server and
// the CLI convert their wire formats at the edge).
#ifndef TESSERA_SCHEDULER_REQUEST_H_
#define TESSERA_SCHEDULER_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampling_params.h"
#include "engine/step_plan.h"

namespace tessera {

enum class FinishReason : uint8_t { kLength, kStop };

std::string_view FinishReasonName(FinishReason r);  // "length" | "stop"

struct GenerateRequest {
  std::string id;
  std::vector<int32_t> prompt_token_ids;
  int32_t max_tokens = 16;
  // temperature, seed, logprobs (top-k per generated token), top-k/top-p/min-p, penalties, bias
  SamplingParams sampling;
  int32_t prompt_logprobs = 0;  // top-k per prompt position; 0 = none
};

struct GenerateResult {
  std::string id;
  absl::Status status;  // not OK: the request failed and the fields below are partial
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> output_token_ids;
  FinishReason finish_reason = FinishReason::kLength;
  std::vector<LogprobEntry> logprobs;  // one per output token when asked
  // One per prompt token when asked; entry 0 is always nullopt (nothing precedes it).
  std::vector<std::optional<LogprobEntry>> prompt_logprobs;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_REQUEST_H_
