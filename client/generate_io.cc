#include "client/generate_io.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "adapters/adapter_name.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

using nlohmann::json;

absl::Status FieldError(absl::string_view where, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": \"", field, "\" ", what));
}

// An integer field within [lo, hi]; JSON floats, strings and booleans are refused.
absl::StatusOr<int64_t> IntField(const json& v, absl::string_view where, absl::string_view field,
                                 int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) return FieldError(where, field, "must be an integer");
  // nlohmann stores non-negative integers as unsigned: compare in the matching domain.
  const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                                     static_cast<int64_t>(v.get<uint64_t>()) >= lo
                                               : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  if (!in_range) {
    return FieldError(where, field,
                      absl::StrCat("must be in [", lo, ", ", hi, "], got ", v.dump()));
  }
  return v.get<int64_t>();
}

// A number field within [lo, hi], or (lo, hi] when `lo_open`; integers are numbers too.
absl::StatusOr<float> FloatField(const json& v, absl::string_view where, absl::string_view field,
                                 double lo, double hi, bool lo_open = false) {
  if (!v.is_number()) return FieldError(where, field, "must be a number");
  const double x = v.get<double>();
  if (!(lo_open ? x > lo : x >= lo) || !(x <= hi)) {
    return FieldError(
        where, field,
        absl::StrCat("must be in ", lo_open ? "(" : "[", lo, ", ", hi, "], got ", v.dump()));
  }
  return static_cast<float>(x);
}

// OpenAI's logit_bias: {"token id": bias}. Sorted by id, as SamplingParams wants it.
absl::StatusOr<std::vector<std::pair<int32_t, float>>> LogitBiasField(const json& v,
                                                                      absl::string_view where) {
  if (!v.is_object()) {
    return FieldError(where, "logit_bias", "must be an object of \"token id\": bias");
  }
  std::vector<std::pair<int32_t, float>> bias;
  for (const auto& [key, value] : v.items()) {
    int32_t id = -1;
    const bool digits = !key.empty() && key.size() <= 10 &&
                        key.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || !absl::SimpleAtoi(key, &id)) {
      return FieldError(where, "logit_bias",
                        absl::StrCat("key \"", key, "\" must be a token id (0 to 2147483647)"));
    }
    auto b = FloatField(value, where, absl::StrCat("logit_bias[\"", key, "\"]"), -kMaxLogitBias,
                        kMaxLogitBias);
    if (!b.ok()) return b.status();
    bias.emplace_back(id, *b);
  }
  std::sort(bias.begin(), bias.end());
  for (size_t i = 1; i < bias.size(); ++i) {
    if (bias[i].first == bias[i - 1].first) {
      return FieldError(where, "logit_bias", absl::StrCat("lists token ", bias[i].first, " twice"));
    }
  }
  return bias;
}

// Sets the sampling field `key` from `v`; false when `key` names no sampling field. Ranges are
// ValidateSamplingParams's, checked here so that errors name the request line.
absl::StatusOr<bool> ParseSamplingField(const std::string& key, const json& v,
                                        absl::string_view where, SamplingParams* s) {
  constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
  absl::StatusOr<float> x = 0.0f;
  if (key == "temperature") {
    if ((x = FloatField(v, where, key, 0, 100)).ok()) s->temperature = *x;
  } else if (key == "top_p") {
    if ((x = FloatField(v, where, key, 0, 1, /*lo_open=*/true)).ok()) s->top_p = *x;
  } else if (key == "min_p") {
    if ((x = FloatField(v, where, key, 0, 1)).ok()) s->min_p = *x;
  } else if (key == "repetition_penalty") {
    if ((x = FloatField(v, where, key, 0, 100, /*lo_open=*/true)).ok()) {
      s->repetition_penalty = *x;
    }
  } else if (key == "presence_penalty") {
    if ((x = FloatField(v, where, key, -2, 2)).ok()) s->presence_penalty = *x;
  } else if (key == "frequency_penalty") {
    if ((x = FloatField(v, where, key, -2, 2)).ok()) s->frequency_penalty = *x;
  } else if (key == "top_k") {
    auto k = IntField(v, where, key, -1, kMaxInt);
    if (!k.ok()) return k.status();
    s->top_k = std::max(static_cast<int32_t>(*k), 0);  // -1 is vLLM's "off", 0 the engine's
  } else if (key == "logprobs") {
    auto n = IntField(v, where, key, 0, kMaxSampleLogprobs);
    if (!n.ok()) return n.status();
    s->num_logprobs = static_cast<int32_t>(*n);
  } else if (key == "logit_bias") {
    auto bias = LogitBiasField(v, where);
    if (!bias.ok()) return bias.status();
    s->logit_bias = *std::move(bias);
  } else {
    return false;
  }
  if (!x.ok()) return x.status();
  return true;
}

// Output keeps the documented field order.
using ordered_json = nlohmann::ordered_json;

ordered_json LogprobJson(const LogprobEntry& e) {
  ordered_json top = ordered_json::array();
  for (const TokenLogprob& t : e.top)
    top.push_back({{"token_id", t.token_id}, {"logprob", t.logprob}});
  return {{"token_id", e.chosen.token_id}, {"logprob", e.chosen.logprob}, {"top", std::move(top)}};
}

}  // namespace

absl::StatusOr<GenerateRequest> ParseGenerateRequest(absl::string_view line,
                                                     absl::string_view where,
                                                     const std::string& default_id,
                                                     const Tokenizer* tokenizer,
                                                     const GenerationDefaults& defaults) {
  const json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(where, ": not valid JSON"));
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": a request must be a JSON object"));
  }
  GenerateRequest r;
  r.id = default_id;
  // Fields the line leaves out take the model's generation_config.json defaults.
  r.max_tokens = defaults.max_tokens;
  r.sampling = defaults.Sampling();
  bool has_tokens = false;
  std::optional<std::string> text;
  std::optional<bool> add_special_tokens;
  constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
  for (const auto& [key, v] : j.items()) {
    if (key == "id") {
      if (!v.is_string()) return FieldError(where, key, "must be a string");
      r.id = v.get<std::string>();
    } else if (key == "token_ids") {
      if (!v.is_array()) return FieldError(where, key, "must be an array of integers");
      has_tokens = true;
      for (size_t i = 0; i < v.size(); ++i) {
        auto t = IntField(v[i], where, absl::StrCat("token_ids[", i, "]"), 0, kMaxInt);
        if (!t.ok()) return t.status();
        r.prompt_token_ids.push_back(static_cast<int32_t>(*t));
      }
    } else if (key == "text") {
      if (!v.is_string()) return FieldError(where, key, "must be a string");
      text = v.get<std::string>();
    } else if (key == "add_special_tokens") {
      if (!v.is_boolean()) return FieldError(where, key, "must be true or false");
      add_special_tokens = v.get<bool>();
    } else if (key == "skip_special_tokens") {
      if (!v.is_boolean()) return FieldError(where, key, "must be true or false");
      r.skip_special_tokens = v.get<bool>();
    } else if (key == "stop") {
      // A string or an array of strings, as in OpenAI's API.
      if (v.is_string()) {
        r.stop = {v.get<std::string>()};
      } else if (v.is_array() &&
                 std::all_of(v.begin(), v.end(), [](const json& s) { return s.is_string(); })) {
        r.stop = v.get<std::vector<std::string>>();
      } else {
        return FieldError(where, key, "must be a string or an array of strings");
      }
    } else if (key == "stop_token_ids") {
      if (!v.is_array()) return FieldError(where, key, "must be an array of integers");
      for (size_t i = 0; i < v.size(); ++i) {
        auto t = IntField(v[i], where, absl::StrCat("stop_token_ids[", i, "]"), 0, kMaxInt);
        if (!t.ok()) return t.status();
        r.stop_token_ids.push_back(static_cast<int32_t>(*t));
      }
    } else if (key == "ignore_eos" || key == "include_stop_str_in_output") {
      if (!v.is_boolean()) return FieldError(where, key, "must be true or false");
      (key == "ignore_eos" ? r.ignore_eos : r.include_stop_str_in_output) = v.get<bool>();
    } else if (key == "min_tokens") {
      auto n = IntField(v, where, key, 0, kMaxInt);
      if (!n.ok()) return n.status();
      r.min_tokens = static_cast<int32_t>(*n);
    } else if (key == "n") {
      auto n = IntField(v, where, key, 1, kMaxInt);
      if (!n.ok()) return n.status();
      r.n = static_cast<int32_t>(*n);
    } else if (key == "max_tokens") {
      auto n = IntField(v, where, key, 1, kMaxInt);
      if (!n.ok()) return n.status();
      r.max_tokens = static_cast<int32_t>(*n);
    } else if (key == "adapter") {
      if (!v.is_string()) return FieldError(where, key, "must be a string (an adapter name)");
      if (absl::Status s = ValidateAdapterName(v.get<std::string>()); !s.ok()) {
        return FieldError(where, key, s.message());
      }
      // The name only: the runner resolves it to the adapter's weights (OfflineAdapters).
      auto ref = std::make_shared<AdapterRef>();
      ref->name = v.get<std::string>();
      r.adapter = std::move(ref);
    } else if (key == "cache_salt") {
      if (!v.is_string()) return FieldError(where, key, "must be a string");
      r.cache_salt = v.get<std::string>();
    } else if (key == "seed") {
      // Absent: unseeded. 0 is a seed like any other (as in vLLM and OpenAI).
      if (!v.is_number_unsigned()) return FieldError(where, key, "must be an integer in [0, 2^64)");
      r.seed = v.get<uint64_t>();
    } else if (key == "prompt_logprobs") {
      auto n = IntField(v, where, key, 0, kMaxInt);
      if (!n.ok()) return n.status();
      r.prompt_logprobs = static_cast<int32_t>(*n);
    } else {
      absl::StatusOr<bool> known = ParseSamplingField(key, v, where, &r.sampling);
      if (!known.ok()) return known.status();
      if (!*known) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": unknown field \"", key,
            "\" (known: id, token_ids, text, add_special_tokens, adapter, max_tokens, min_tokens, "
            "n, "
            "temperature, top_k, top_p, min_p, seed, repetition_penalty, presence_penalty, "
            "frequency_penalty, logit_bias, logprobs, prompt_logprobs, stop, stop_token_ids, "
            "ignore_eos, include_stop_str_in_output, skip_special_tokens)"));
      }
    }
  }
  if (has_tokens && text.has_value()) {
    return FieldError(where, "text", "and \"token_ids\" exclude each other: give one prompt");
  }
  if (add_special_tokens.has_value() && !text.has_value()) {
    return FieldError(where, "add_special_tokens", "applies only to \"text\"");
  }
  if (text.has_value()) {
    if (tokenizer == nullptr) {
      return FieldError(where, "text",
                        "needs a tokenizer: the model has no tokenizer.json (pass --tokenizer)");
    }
    auto ids = tokenizer->Encode(*text, add_special_tokens.value_or(true));
    if (!ids.ok()) return FieldError(where, "text", ids.status().message());
    if (ids->empty()) return FieldError(where, "text", "encodes to no tokens");
    r.prompt_token_ids = *std::move(ids);
    return r;
  }
  if (!has_tokens) return FieldError(where, "token_ids", "or \"text\" is required");
  if (r.prompt_token_ids.empty()) return FieldError(where, "token_ids", "must not be empty");
  return r;
}

absl::StatusOr<std::vector<GenerateRequest>> ParseGenerateRequests(
    std::istream& in, absl::string_view source, const Tokenizer* tokenizer,
    const GenerationDefaults& defaults) {
  std::vector<GenerateRequest> requests;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto r = ParseGenerateRequest(line, absl::StrCat(source, ":", n), absl::StrCat(n), tokenizer,
                                  defaults);
    if (!r.ok()) return r.status();
    requests.push_back(*std::move(r));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(source, ": read error"));
  return requests;
}

std::string FormatGenerateResult(const GenerateResult& r) {
  ordered_json out;
  out["id"] = r.id;
  out["prompt_token_ids"] = r.prompt_token_ids;
  out["output_token_ids"] = r.output_token_ids;
  if (r.text.has_value()) out["text"] = *r.text;
  out["finish_reason"] = FinishReasonName(r.finish_reason);
  if (r.logprobs.empty()) {
    out["logprobs"] = nullptr;
  } else {
    ordered_json lp = ordered_json::array();
    for (const LogprobEntry& e : r.logprobs) lp.push_back(LogprobJson(e));
    out["logprobs"] = std::move(lp);
  }
  if (!r.samples.empty()) {
    ordered_json samples = ordered_json::array();
    for (const GeneratedSample& s : r.samples) {
      ordered_json one;
      one["output_token_ids"] = s.output_token_ids;
      if (s.text.has_value()) one["text"] = *s.text;
      one["finish_reason"] = FinishReasonName(s.finish_reason);
      ordered_json lp = ordered_json::array();
      for (const LogprobEntry& e : s.logprobs) lp.push_back(LogprobJson(e));
      one["logprobs"] = s.logprobs.empty() ? ordered_json(nullptr) : std::move(lp);
      samples.push_back(std::move(one));
    }
    out["samples"] = std::move(samples);
  }
  if (r.prompt_logprobs.empty()) {
    out["prompt_logprobs"] = nullptr;
  } else {
    ordered_json plp = ordered_json::array();
    for (const auto& e : r.prompt_logprobs) {
      plp.push_back(e ? LogprobJson(*e) : ordered_json(nullptr));
    }
    out["prompt_logprobs"] = std::move(plp);
  }
  // A request that failed (e.g. non-finite logits) says why; its other fields are partial.
  if (!r.status.ok()) {
    out["error"] = {{"code", absl::StatusCodeToString(r.status.code())},
                    {"message", std::string(r.status.message())}};
  }
  return out.dump();
}

}  // namespace tessera
