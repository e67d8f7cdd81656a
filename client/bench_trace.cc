#include "client/bench_trace.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

using nlohmann::json;

// A field that must be an integer in [lo, hi].
absl::Status ReadInt(const json& line, const char* field, int64_t lo, int64_t hi, int64_t* out) {
  const json& v = line[field];
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", field, "\" must be an integer in [", lo, ", ", hi, "]"));
  }
  *out = v.get<int64_t>();
  return absl::OkStatus();
}

absl::Status ReadString(const json& line, const char* field, std::string* out) {
  if (!line[field].is_string() || line[field].get<std::string>().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", field, "\" must be a non-empty string"));
  }
  *out = line[field].get<std::string>();
  return absl::OkStatus();
}

int ClassId(std::vector<RequestClass>& classes, const std::string& name) {
  for (size_t i = 0; i < classes.size(); ++i) {
    if (classes[i].name == name) return static_cast<int>(i);
  }
  classes.push_back(RequestClass{.name = name});
  return static_cast<int>(classes.size() - 1);
}

// One line into `r`; tenants and classes resolved against (and classes grown by) the lists.
absl::Status ParseLine(const json& line, std::vector<RequestClass>& classes,
                       const std::vector<TenantSpec>& tenants, PlannedRequest& r) {
  constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
  if (!line.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  for (const auto& [field, value] : line.items()) {
    static constexpr const char* kFields[] = {"arrival_s",     "prompt_tokens", "prompt",
                                              "output_tokens", "class",         "tenant",
                                              "adapter",       "ttft_ms",       "tpot_ms"};
    if (std::find_if(std::begin(kFields), std::end(kFields),
                     [&](const char* f) { return field == f; }) == std::end(kFields)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field \"", field,
          "\" (expected arrival_s, prompt_tokens or prompt, output_tokens, class, tenant, "
          "adapter, ttft_ms, tpot_ms)"));
    }
  }
  if (!line.contains("arrival_s") || !line["arrival_s"].is_number() ||
      !(line["arrival_s"].get<double>() >= 0) || !std::isfinite(line["arrival_s"].get<double>())) {
    return absl::InvalidArgumentError("\"arrival_s\" must be a number of seconds >= 0");
  }
  r.arrival_s = line["arrival_s"].get<double>();
  if (line.contains("prompt_tokens") == line.contains("prompt")) {
    return absl::InvalidArgumentError("give exactly one of \"prompt_tokens\" and \"prompt\"");
  }
  int64_t v = 0;
  if (line.contains("prompt_tokens")) {
    if (absl::Status s = ReadInt(line, "prompt_tokens", 1, kMaxInt, &v); !s.ok()) return s;
    r.prompt_tokens = static_cast<int32_t>(v);
  } else if (absl::Status s = ReadString(line, "prompt", &r.prompt_text); !s.ok()) {
    return s;
  }
  if (!line.contains("output_tokens"))
    return absl::InvalidArgumentError("\"output_tokens\" is missing");
  if (absl::Status s = ReadInt(line, "output_tokens", 1, kMaxInt, &v); !s.ok()) return s;
  r.output_tokens = static_cast<int32_t>(v);

  std::string class_name = "default";
  if (line.contains("class")) {
    if (absl::Status s = ReadString(line, "class", &class_name); !s.ok()) return s;
  }
  r.class_id = ClassId(classes, class_name);
  const RequestClass& c = classes[r.class_id];
  r.ttft_target_ms = c.ttft_target_ms;
  r.tpot_target_ms = c.tpot_target_ms;
  r.priority = c.priority;
  for (const char* field : {"ttft_ms", "tpot_ms"}) {
    if (!line.contains(field)) continue;
    if (absl::Status s = ReadInt(line, field, 0, std::numeric_limits<uint32_t>::max(), &v);
        !s.ok()) {
      return s;
    }
    (absl::string_view(field) == "ttft_ms" ? r.ttft_target_ms : r.tpot_target_ms) =
        static_cast<uint32_t>(v);
  }
  if (line.contains("tenant")) {
    std::string tenant;
    if (absl::Status s = ReadString(line, "tenant", &tenant); !s.ok()) return s;
    auto it = std::find_if(tenants.begin(), tenants.end(),
                           [&](const TenantSpec& t) { return t.name == tenant; });
    if (it == tenants.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tenant \"", tenant, "\" is not declared with --tenant (which gives its key)"));
    }
    r.tenant_id = static_cast<int>(it - tenants.begin());
  }
  if (line.contains("adapter")) {
    if (absl::Status s = ReadString(line, "adapter", &r.adapter); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Workload> LoadTraceWorkload(std::istream& in, absl::string_view source,
                                           std::vector<RequestClass> classes,
                                           std::vector<TenantSpec> tenants, double warmup_s,
                                           std::optional<double> duration_s,
                                           std::optional<int64_t> num_requests) {
  if (!(warmup_s >= 0) || (duration_s.has_value() && !(*duration_s > 0))) {
    return absl::InvalidArgumentError("--warmup must be >= 0 and --duration > 0");
  }
  Workload w;
  std::string text;
  for (int line_no = 1; std::getline(in, text); ++line_no) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const json line = json::parse(text, nullptr, /*allow_exceptions=*/false);
    PlannedRequest r;
    absl::Status s = line.is_discarded() ? absl::InvalidArgumentError("not valid JSON")
                                         : ParseLine(line, classes, tenants, r);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_no, ": ", s.message()));
    }
    if (static_cast<int64_t>(w.requests.size()) >= kMaxPlannedRequests) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": more than ", kMaxPlannedRequests, " requests"));
    }
    w.requests.push_back(std::move(r));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(source, ": read error"));
  std::stable_sort(
      w.requests.begin(), w.requests.end(),
      [](const PlannedRequest& a, const PlannedRequest& b) { return a.arrival_s < b.arrival_s; });
  // The cut: warm-up first, then the measured window.
  const double end_s =
      duration_s.has_value() ? warmup_s + *duration_s : std::numeric_limits<double>::infinity();
  int64_t measured = 0;
  size_t kept = 0;
  for (; kept < w.requests.size(); ++kept) {
    PlannedRequest& r = w.requests[kept];
    r.warmup = r.arrival_s < warmup_s;
    if (r.warmup) continue;
    if (r.arrival_s >= end_s || (num_requests.has_value() && measured >= *num_requests)) break;
    ++measured;
    w.measure_end_s = r.arrival_s;
  }
  w.requests.resize(kept);
  if (measured == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no request arrives after the warm-up (", warmup_s, " s)"));
  }
  w.measure_start_s = warmup_s;
  w.classes = std::move(classes);
  w.tenants = std::move(tenants);
  return w;
}

}  // namespace tessera
