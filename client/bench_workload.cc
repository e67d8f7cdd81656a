#include "client/bench_workload.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

// "key=value,key=value" -> pairs, in order. Keys are checked by the callers.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SplitSpec(absl::string_view flag,
                                                                           absl::string_view spec) {
  std::vector<std::pair<std::string, std::string>> fields;
  std::set<std::string> seen;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (part.find('=') == absl::string_view::npos || kv.first.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " \"", spec, "\": \"", part, "\" is not key=value"));
    }
    if (!seen.insert(std::string(kv.first)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " \"", spec, "\": ", kv.first, " is given twice"));
    }
    fields.emplace_back(std::string(kv.first), std::string(kv.second));
  }
  if (fields.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " is empty"));
  return fields;
}

absl::Status FieldError(absl::string_view flag, absl::string_view spec, absl::string_view key,
                        absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(flag, " \"", spec, "\": ", key, " ", why));
}

// "64:256" or "128"; lengths >= 1.
bool ParseLengthRange(absl::string_view text, LengthRange* out) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits(':', 1));
  const bool is_range = text.find(':') != absl::string_view::npos;
  if (!absl::SimpleAtoi(parts.first, &out->min)) return false;
  out->max = out->min;
  if (is_range && !absl::SimpleAtoi(parts.second, &out->max)) return false;
  return out->min >= 1 && out->max >= out->min;
}

bool ParseTargetMs(absl::string_view text, uint32_t* out) { return absl::SimpleAtoi(text, out); }

bool ParsePositive(absl::string_view text, double* out) {
  return absl::SimpleAtod(text, out) && *out > 0 && std::isfinite(*out);
}

}  // namespace

absl::StatusOr<RequestClass> ParseClassSpec(absl::string_view spec,
                                            absl::string_view default_name) {
  constexpr absl::string_view kFlag = "--class";
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> fields = SplitSpec(kFlag, spec);
  if (!fields.ok()) return fields.status();
  RequestClass c;
  c.name = std::string(default_name);
  for (const auto& [key, value] : *fields) {
    if (key == "name") {
      if (value.empty()) return FieldError(kFlag, spec, key, "is empty");
      c.name = value;
    } else if (key == "weight") {
      if (!ParsePositive(value, &c.weight)) return FieldError(kFlag, spec, key, "must be > 0");
    } else if (key == "prompt" || key == "output") {
      if (!ParseLengthRange(value, key == "prompt" ? &c.prompt : &c.output)) {
        return FieldError(kFlag, spec, key,
                          "must be a length N or a range MIN:MAX, 1 <= MIN <= MAX");
      }
    } else if (key == "ttft_ms" || key == "tpot_ms") {
      if (!ParseTargetMs(value, key == "ttft_ms" ? &c.ttft_target_ms : &c.tpot_target_ms)) {
        return FieldError(kFlag, spec, key, "must be milliseconds, an integer >= 0 (0 = none)");
      }
    } else if (key == "priority") {
      if (value == "interactive") {
        c.priority = v1::PRIORITY_INTERACTIVE;
      } else if (value == "batch") {
        c.priority = v1::PRIORITY_BATCH;
      } else {
        return FieldError(kFlag, spec, key, "must be interactive or batch");
      }
    } else {
      return FieldError(kFlag, spec, key,
                        "is not a class field (name, weight, prompt, output, ttft_ms, tpot_ms, "
                        "priority)");
    }
  }
  return c;
}

absl::StatusOr<TenantSpec> ParseTenantSpec(absl::string_view spec) {
  constexpr absl::string_view kFlag = "--tenant";
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> fields = SplitSpec(kFlag, spec);
  if (!fields.ok()) return fields.status();
  TenantSpec t;
  for (const auto& [key, value] : *fields) {
    if (key == "name") {
      t.name = value;
    } else if (key == "key") {
      if (value.empty()) return FieldError(kFlag, spec, key, "is empty");
      t.api_key = value;
    } else if (key == "rate_share") {
      if (!ParsePositive(value, &t.rate_share)) {
        return FieldError(kFlag, spec, key, "must be a number > 0");
      }
    } else {
      return FieldError(kFlag, spec, key, "is not a tenant field (name, key, rate_share)");
    }
  }
  if (t.name.empty()) return FieldError(kFlag, spec, "name", "is required");
  return t;
}

absl::StatusOr<std::vector<RequestClass>> ParseClassSpecs(const std::vector<std::string>& specs) {
  std::vector<RequestClass> classes;
  std::set<std::string> names;
  for (size_t i = 0; i < specs.size(); ++i) {
    absl::StatusOr<RequestClass> c = ParseClassSpec(specs[i], absl::StrCat("class", i));
    if (!c.ok()) return c.status();
    if (!names.insert(c->name).second) {
      return absl::InvalidArgumentError(absl::StrCat("--class: name ", c->name, " is given twice"));
    }
    classes.push_back(*std::move(c));
  }
  if (classes.empty()) classes.push_back(RequestClass{.name = "default"});
  return classes;
}

absl::StatusOr<std::vector<TenantSpec>> ParseTenantSpecs(const std::vector<std::string>& specs) {
  std::vector<TenantSpec> tenants;
  std::set<std::string> names;
  for (const std::string& spec : specs) {
    absl::StatusOr<TenantSpec> t = ParseTenantSpec(spec);
    if (!t.ok()) return t.status();
    if (!names.insert(t->name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tenant: name ", t->name, " is given twice"));
    }
    tenants.push_back(*std::move(t));
  }
  return tenants;
}

absl::StatusOr<Workload> GenerateWorkload(std::vector<RequestClass> classes,
                                          std::vector<TenantSpec> tenants,
                                          const GeneratedWorkloadOptions& o) {
  if (classes.empty()) return absl::InvalidArgumentError("no request class");
  if (!o.duration_s.has_value() && !o.num_requests.has_value()) {
    return absl::InvalidArgumentError("give --duration or --num-requests (or both)");
  }
  if (o.duration_s.has_value() && !(*o.duration_s > 0 && std::isfinite(*o.duration_s))) {
    return absl::InvalidArgumentError("--duration must be seconds > 0");
  }
  if (o.num_requests.has_value() && *o.num_requests < 1) {
    return absl::InvalidArgumentError("--num-requests must be >= 1");
  }
  if (!(o.warmup_s >= 0 && std::isfinite(o.warmup_s))) {
    return absl::InvalidArgumentError("--warmup must be seconds >= 0");
  }
  if (std::isinf(o.request_rate) && (!o.num_requests.has_value() || o.warmup_s > 0)) {
    return absl::InvalidArgumentError(
        "an infinite request rate sends everything at once: it needs --num-requests, and no "
        "--warmup");
  }
  // A bound checked before planning, so that a mistyped rate fails at once, not after filling
  // memory; the count in the loop below is the exact check.
  const double expected =
      std::min(o.num_requests.has_value() ? static_cast<double>(*o.num_requests) : HUGE_VAL,
               o.duration_s.has_value() ? o.request_rate * *o.duration_s : HUGE_VAL) +
      (std::isinf(o.request_rate) ? 0 : o.request_rate * o.warmup_s);
  if (expected > kMaxPlannedRequests) {
    return absl::InvalidArgumentError(
        absl::StrCat("the run would send about ", expected, " requests, more than ",
                     kMaxPlannedRequests, ": lower --request-rate, --duration or --num-requests"));
  }
  // Each tenant (or the one anonymous stream) is an arrival process of its own.
  const size_t streams = std::max<size_t>(tenants.size(), 1);
  double total_share = 0;
  for (const TenantSpec& t : tenants) total_share += t.rate_share;
  std::vector<ArrivalProcess> processes;
  std::vector<std::mt19937_64> arrival_rngs;
  std::vector<double> next_arrival;
  for (size_t i = 0; i < streams; ++i) {
    const double share = tenants.empty() ? 1 : tenants[i].rate_share / total_share;
    absl::StatusOr<ArrivalProcess> p =
        ArrivalProcess::Create(o.arrival, o.request_rate * share, o.cv);
    if (!p.ok()) return p.status();
    processes.push_back(*p);
    // Streams of their own, so that adding a class or an adapter does not move the arrivals.
    std::seed_seq seq{o.seed, uint64_t{1}, uint64_t{i}};
    arrival_rngs.emplace_back(seq);
    next_arrival.push_back(processes[i].NextGap(arrival_rngs[i]));
  }
  std::seed_seq attr_seq{o.seed, uint64_t{2}};
  std::mt19937_64 rng(attr_seq);
  std::vector<double> weights;
  for (const RequestClass& c : classes) weights.push_back(c.weight);
  std::discrete_distribution<int> pick_class(weights.begin(), weights.end());
  std::optional<ZipfSampler> zipf;
  if (!o.adapters.empty()) {
    absl::StatusOr<ZipfSampler> z = ZipfSampler::Create(o.adapters.size(), o.zipf_s);
    if (!z.ok()) return z.status();
    zipf = *z;
  }
  auto draw = [&rng](LengthRange r) {
    return std::uniform_int_distribution<int32_t>(r.min, r.max)(rng);
  };

  Workload w;
  w.measure_start_s = o.warmup_s;
  const double end_s = o.duration_s.has_value() ? o.warmup_s + *o.duration_s
                                                : std::numeric_limits<double>::infinity();
  int64_t measured = 0;
  bool window_ended = false;
  while (true) {
    const size_t s =
        std::min_element(next_arrival.begin(), next_arrival.end()) - next_arrival.begin();
    const double t = next_arrival[s];
    if (t >= end_s) {
      window_ended = true;
      break;
    }
    if (o.num_requests.has_value() && t >= o.warmup_s && measured >= *o.num_requests) break;
    if (static_cast<int64_t>(w.requests.size()) >= kMaxPlannedRequests) {
      return absl::InvalidArgumentError(
          absl::StrCat("the run would send more than ", kMaxPlannedRequests,
                       " requests: lower --request-rate, --duration or --num-requests"));
    }
    PlannedRequest r;
    r.arrival_s = t;
    r.warmup = t < o.warmup_s;
    r.class_id = pick_class(rng);
    r.tenant_id = tenants.empty() ? -1 : static_cast<int>(s);
    const RequestClass& c = classes[r.class_id];
    r.prompt_tokens = draw(c.prompt);
    r.output_tokens = draw(c.output);
    r.ttft_target_ms = c.ttft_target_ms;
    r.tpot_target_ms = c.tpot_target_ms;
    r.priority = c.priority;
    if (zipf.has_value()) r.adapter = o.adapters[zipf->Sample(rng)];
    if (!r.warmup) {
      ++measured;
      w.measure_end_s = t;
    }
    w.requests.push_back(std::move(r));
    next_arrival[s] = t + processes[s].NextGap(arrival_rngs[s]);
  }
  if (measured == 0) {
    return absl::InvalidArgumentError(
        "no request arrives in the measured window: raise --duration or --request-rate");
  }
  if (window_ended) w.measure_end_s = end_s;
  w.classes = std::move(classes);
  w.tenants = std::move(tenants);
  return w;
}

}  // namespace tessera
