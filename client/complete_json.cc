#include "client/complete_json.h"

#include <utility>

namespace tessera {
namespace {

using nlohmann::ordered_json;

ordered_json TokenJson(const v1::TokenLogprob& t) {
  ordered_json j;
  j["token_id"] = t.token_id();
  j["logprob"] = t.logprob();
  if (!t.token().empty()) j["token"] = t.token();
  return j;
}

ordered_json PositionJson(const v1::PositionLogprobs& p) {
  if (!p.has_chosen()) return nullptr;
  ordered_json j = TokenJson(p.chosen());
  ordered_json top = ordered_json::array();
  for (const v1::TokenLogprob& t : p.top()) top.push_back(TokenJson(t));
  j["top"] = std::move(top);
  return j;
}

ordered_json PositionsJson(const std::vector<v1::PositionLogprobs>& positions) {
  if (positions.empty()) return nullptr;
  ordered_json j = ordered_json::array();
  for (const v1::PositionLogprobs& p : positions) j.push_back(PositionJson(p));
  return j;
}

ordered_json FinishReasonJson(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_STOP:
      return "stop";
    default:
      return nullptr;
  }
}

ordered_json SampleJson(const SampleOutput& s) {
  ordered_json j;
  j["text"] = s.text;
  j["token_ids"] = s.token_ids;
  j["finish_reason"] = FinishReasonJson(s.finish_reason);
  if (!s.stop_string.empty()) j["stop_string"] = s.stop_string;
  if (s.stop_token_id.has_value()) j["stop_token_id"] = *s.stop_token_id;
  j["logprobs"] = PositionsJson(s.logprobs);
  return j;
}

ordered_json UsageJson(const v1::Usage& u) {
  ordered_json j;
  j["prompt_tokens"] = u.prompt_tokens();
  j["completion_tokens"] = u.completion_tokens();
  j["queue_seconds"] = u.queue_seconds();
  j["time_to_first_token_seconds"] = u.time_to_first_token_seconds();
  j["e2e_seconds"] = u.e2e_seconds();
  j["preemptions"] = u.preemptions();
  return j;
}

}  // namespace

ordered_json GenerateOutputJson(const GenerateOutput& output) {
  ordered_json j;
  j["request_id"] = output.request_id;
  ordered_json first = output.samples.empty() ? SampleJson({}) : SampleJson(output.samples[0]);
  for (auto& [key, value] : first.items()) j[key] = value;
  if (output.samples.size() > 1) {
    ordered_json samples = ordered_json::array();
    for (const SampleOutput& s : output.samples) samples.push_back(SampleJson(s));
    j["samples"] = std::move(samples);
  }
  j["prompt_logprobs"] = PositionsJson(output.prompt_logprobs);
  j["usage"] = UsageJson(output.usage);
  return j;
}

}  // namespace tessera
