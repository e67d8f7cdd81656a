#include "server/openai/sampling_fields.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/openai/openai_error.h"
#include "server/openai/request_fields.h"

namespace tessera::openai {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr double kFloatMax = std::numeric_limits<float>::max();

absl::Status ReadStop(const Json& body, v1::GenerateRequest* out) {
  const Json* stop = FindField(body, "stop");
  if (stop == nullptr) return absl::OkStatus();
  if (stop->is_string()) {
    // OpenAI reads "" as no stop string; so does vLLM (it drops empty strings).
    if (!stop->get_ref<const std::string&>().empty()) out->add_stop(stop->get<std::string>());
    return absl::OkStatus();
  }
  if (!stop->is_array()) {
    return InvalidParam("stop", absl::StrCat("stop must be a string or an array of strings, not ",
                                             TypeName(*stop)));
  }
  for (size_t i = 0; i < stop->size(); ++i) {
    const Json& s = (*stop)[i];
    if (!s.is_string()) {
      return InvalidParam("stop",
                          absl::StrCat("stop[", i, "] must be a string, not ", TypeName(s)));
    }
    if (!s.get_ref<const std::string&>().empty()) out->add_stop(s.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ReadStopTokenIds(const Json& body, v1::GenerateRequest* out) {
  const Json* ids = FindField(body, "stop_token_ids");
  if (ids == nullptr) return absl::OkStatus();
  if (!ids->is_array()) {
    return InvalidParam("stop_token_ids", absl::StrCat("stop_token_ids must be an array of "
                                                       "integers, not ",
                                                       TypeName(*ids)));
  }
  for (size_t i = 0; i < ids->size(); ++i) {
    absl::StatusOr<int64_t> id =
        IntOf((*ids)[i], absl::StrCat("stop_token_ids[", i, "]"), 0, kInt32Max);
    if (!id.ok()) return InvalidParam("stop_token_ids", std::string(id.status().message()));
    out->add_stop_token_ids(static_cast<int32_t>(*id));
  }
  return absl::OkStatus();
}

// {"50256": -100}: keys are token ids written as strings (JSON keys are strings).
absl::Status ReadLogitBias(const Json& body, v1::GenerateRequest* out) {
  const Json* bias = FindField(body, "logit_bias");
  if (bias == nullptr) return absl::OkStatus();
  if (!bias->is_object()) {
    return InvalidParam("logit_bias", absl::StrCat("logit_bias must be an object of token id -> "
                                                   "bias, not ",
                                                   TypeName(*bias)));
  }
  for (const auto& [key, value] : bias->items()) {
    int64_t id = -1;
    const char* end = key.data() + key.size();
    auto [ptr, ec] = std::from_chars(key.data(), end, id);
    if (key.empty() || ec != std::errc() || ptr != end || id < 0 || id > kInt32Max) {
      return InvalidParam("logit_bias", absl::StrCat("logit_bias key \"", key,
                                                     "\" is not a token id (a non-negative "
                                                     "integer written as a string)"));
    }
    if (!value.is_number()) {
      return InvalidParam(
          "logit_bias",
          absl::StrCat("logit_bias[\"", key, "\"] must be a number, not ", TypeName(value)));
    }
    const double b = value.get<double>();
    if (!(b >= -100.0 && b <= 100.0)) {
      return InvalidParam(
          "logit_bias", absl::StrCat("logit_bias[\"", key, "\"] must be in [-100, 100], not ", b));
    }
    (*out->mutable_logit_bias())[static_cast<int32_t>(id)] = static_cast<float>(b);
  }
  return absl::OkStatus();
}

absl::Status ReadBools(const Json& body, v1::GenerateRequest* out) {
  TESSERA_OPENAI_ASSIGN_OR_RETURN(ignore_eos, GetBool(body, "ignore_eos"));
  if (ignore_eos) out->set_ignore_eos(*ignore_eos);
  TESSERA_OPENAI_ASSIGN_OR_RETURN(skip, GetBool(body, "skip_special_tokens"));
  if (skip) out->set_skip_special_tokens(*skip);
  TESSERA_OPENAI_ASSIGN_OR_RETURN(include_stop, GetBool(body, "include_stop_str_in_output"));
  if (include_stop) out->set_include_stop_str_in_output(*include_stop);
  // Not sampling, but read by both routes alike: vLLM's field narrowing prefix-cache reuse (its
  // length is checked with the rest of the request, as over gRPC).
  TESSERA_OPENAI_ASSIGN_OR_RETURN(cache_salt, GetString(body, "cache_salt"));
  if (cache_salt) out->set_cache_salt(*cache_salt);
  return absl::OkStatus();
}

}  // namespace

bool IsSamplingField(std::string_view name) {
  // clang-format off
  static constexpr std::string_view kNames[] = {
      "n", "best_of", "temperature", "top_p", "top_k", "min_p", "presence_penalty",
      "frequency_penalty", "repetition_penalty", "seed", "min_tokens", "prompt_logprobs", "stop",
      "stop_token_ids", "logit_bias", "ignore_eos", "skip_special_tokens",
      "include_stop_str_in_output", "cache_salt"};
  // clang-format on
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

absl::Status ReadSamplingFields(const Json& body, v1::GenerateRequest* out) {
  TESSERA_OPENAI_ASSIGN_OR_RETURN(n, GetInt(body, "n", 1, kInt32Max));
  if (n) out->set_n(static_cast<int32_t>(*n));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(best_of, GetInt(body, "best_of", 1, kInt32Max));
  if (best_of && *best_of != out->n()) {
    return InvalidParam("best_of", "best_of other than n is not supported");
  }
  // OpenAI's default temperature is 1; the proto's unset temperature is greedy.
  TESSERA_OPENAI_ASSIGN_OR_RETURN(temperature, GetNumber(body, "temperature", 0.0, kFloatMax));
  out->set_temperature(temperature ? static_cast<float>(*temperature) : 1.0f);
  TESSERA_OPENAI_ASSIGN_OR_RETURN(top_p, GetNumber(body, "top_p", 0.0, 1.0));
  if (top_p) {
    if (*top_p <= 0.0) return InvalidParam("top_p", "top_p must be in (0, 1], not 0");
    out->set_top_p(static_cast<float>(*top_p));
  }
  TESSERA_OPENAI_ASSIGN_OR_RETURN(top_k, GetInt(body, "top_k", -1, kInt32Max));
  if (top_k) out->set_top_k(static_cast<int32_t>(*top_k));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(min_p, GetNumber(body, "min_p", 0.0, 1.0));
  if (min_p) out->set_min_p(static_cast<float>(*min_p));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(presence, GetNumber(body, "presence_penalty", -2.0, 2.0));
  if (presence) out->set_presence_penalty(static_cast<float>(*presence));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(frequency, GetNumber(body, "frequency_penalty", -2.0, 2.0));
  if (frequency) out->set_frequency_penalty(static_cast<float>(*frequency));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(repetition,
                                  GetNumber(body, "repetition_penalty", 0.0, kFloatMax));
  if (repetition) {
    if (*repetition <= 0.0) {
      return InvalidParam("repetition_penalty", "repetition_penalty must be > 0, not 0");
    }
    out->set_repetition_penalty(static_cast<float>(*repetition));
  }
  // Any 64-bit integer, as vLLM takes it; a negative seed keeps its bits in the proto's uint64.
  const Json* seed = FindField(body, "seed");
  if (seed != nullptr) {
    if (seed->is_number_unsigned()) {
      out->set_seed(seed->get<uint64_t>());
    } else {
      TESSERA_OPENAI_ASSIGN_OR_RETURN(s, IntOf(*seed, "seed", std::numeric_limits<int64_t>::min(),
                                               std::numeric_limits<int64_t>::max()));
      out->set_seed(static_cast<uint64_t>(s));
    }
  }
  TESSERA_OPENAI_ASSIGN_OR_RETURN(min_tokens, GetInt(body, "min_tokens", 0, kInt32Max));
  if (min_tokens) out->set_min_tokens(static_cast<int32_t>(*min_tokens));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(prompt_logprobs, GetInt(body, "prompt_logprobs", 0, 20));
  if (prompt_logprobs) out->set_prompt_logprobs(static_cast<int32_t>(*prompt_logprobs));
  if (absl::Status s = ReadStop(body, out); !s.ok()) return s;
  if (absl::Status s = ReadStopTokenIds(body, out); !s.ok()) return s;
  if (absl::Status s = ReadLogitBias(body, out); !s.ok()) return s;
  return ReadBools(body, out);
}

}  // namespace tessera::openai
