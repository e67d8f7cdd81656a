#include "server/openai/response_common.h"

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace tessera::openai {

std::string NewResponseId(std::string_view prefix) {
  // absl::BitGen per call: ids need to be unique, not reproducible, and this keeps no state.
  absl::BitGen gen;
  return absl::StrFormat("%s%016x%016x", prefix, absl::Uniform<uint64_t>(gen),
                         absl::Uniform<uint64_t>(gen));
}

int64_t UnixSecondsNow() { return absl::ToUnixSeconds(absl::Now()); }

nlohmann::ordered_json UsageJson(int64_t prompt_tokens, int64_t completion_tokens,
                                 int64_t cached_prompt_tokens) {
  nlohmann::ordered_json usage;
  usage["prompt_tokens"] = prompt_tokens;
  usage["total_tokens"] = prompt_tokens + completion_tokens;
  usage["completion_tokens"] = completion_tokens;
  usage["prompt_tokens_details"] = {{"cached_tokens", cached_prompt_tokens}};
  return usage;
}

nlohmann::ordered_json FinishReasonJson(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_STOP:
      return "stop";
    default:
      return nullptr;
  }
}

}  // namespace tessera::openai
