#include "client/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double TtftMs(const RequestRecord& r) { return (r.first_token_s - r.scheduled_s) * 1000; }

// Only for a record with at least 2 tokens.
double TpotMs(const RequestRecord& r) {
  return (r.last_token_s - r.first_token_s) * 1000 / (r.output_tokens - 1);
}

// Per-group sample lists, folded into GroupStats at the end.
struct GroupSamples {
  GroupStats stats;
  std::vector<double> ttft, tpot, e2e;

  void Add(const PlannedRequest& plan, const RequestRecord& r) {
    ++stats.sent;
    if (r.code != absl::StatusCode::kOk) {
      ++stats.errors;
      ++stats.errors_by_code[absl::StatusCodeToString(r.code)];
      return;
    }
    ++stats.completed;
    stats.output_tokens += r.output_tokens;
    stats.prompt_tokens += r.prompt_tokens;
    if (r.first_token_s >= 0) ttft.push_back(TtftMs(r));
    if (r.output_tokens >= 2) tpot.push_back(TpotMs(r));
    e2e.push_back((r.end_s - r.scheduled_s) * 1000);
    const bool ttft_ok = MetTtft(plan, r);
    const bool tpot_ok = MetTpot(plan, r);
    stats.met_ttft += ttft_ok;
    stats.met_tpot += tpot_ok;
    stats.met_both += ttft_ok && tpot_ok;
  }

  GroupStats Finish() {
    stats.ttft_ms = Summarize(ttft);
    stats.tpot_ms = Summarize(tpot);
    stats.e2e_ms = Summarize(e2e);
    return stats;
  }
};

// JSON has no NaN: an empty distribution's figures are null.
nlohmann::json Number(double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); }

nlohmann::json DistributionJson(const Distribution& d) {
  return {{"count", d.count},     {"mean", Number(d.mean)}, {"p50", Number(d.p50)},
          {"p90", Number(d.p90)}, {"p99", Number(d.p99)},   {"max", Number(d.max)}};
}

double Ratio(int64_t n, double d) { return d > 0 ? n / d : kNaN; }

nlohmann::json GroupJson(const GroupStats& g, double elapsed_s) {
  const double sent = static_cast<double>(g.sent);
  return {
      {"requests", {{"sent", g.sent}, {"completed", g.completed}, {"errors", g.errors}}},
      {"errors_by_code", g.errors_by_code},
      {"output_tokens", g.output_tokens},
      {"prompt_tokens", g.prompt_tokens},
      {"ttft_ms", DistributionJson(g.ttft_ms)},
      {"tpot_ms", DistributionJson(g.tpot_ms)},
      {"e2e_ms", DistributionJson(g.e2e_ms)},
      {"attainment",
       {{"both", Number(Ratio(g.met_both, sent))},
        {"ttft", Number(Ratio(g.met_ttft, sent))},
        {"tpot", Number(Ratio(g.met_tpot, sent))}}},
      {"goodput_requests_per_s", Number(Ratio(g.met_both, elapsed_s))},
      {"throughput",
       {{"requests_per_s", Number(Ratio(g.completed, elapsed_s))},
        {"output_tokens_per_s", Number(Ratio(g.output_tokens, elapsed_s))}}},
  };
}

std::string Ms(double v) { return std::isnan(v) ? "-" : absl::StrFormat("%.1f", v); }
std::string Pct(int64_t n, int64_t d) {
  return d > 0 ? absl::StrFormat("%.1f%%", 100.0 * n / d) : "-";
}

std::string TableRow(const std::string& name, const GroupStats& g, double elapsed_s) {
  return absl::StrFormat("%-18s %6d %6d %5d  %8s %8s %8s  %7s %7s %7s  %6s %6s %6s  %8s %9s\n",
                         name, g.sent, g.completed, g.errors, Ms(g.ttft_ms.p50), Ms(g.ttft_ms.p90),
                         Ms(g.ttft_ms.p99), Ms(g.tpot_ms.p50), Ms(g.tpot_ms.p90), Ms(g.tpot_ms.p99),
                         Pct(g.met_both, g.sent), Pct(g.met_ttft, g.sent), Pct(g.met_tpot, g.sent),
                         absl::StrFormat("%.2f", Ratio(g.met_both, elapsed_s)),
                         absl::StrFormat("%.1f", Ratio(g.output_tokens, elapsed_s)));
}

}  // namespace

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100 * (values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (rank - lo) * (values[hi] - values[lo]);
}

Distribution Summarize(const std::vector<double>& values) {
  Distribution d;
  d.count = values.size();
  if (values.empty()) {
    d.mean = d.p50 = d.p90 = d.p99 = d.max = kNaN;
    return d;
  }
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  d.p50 = Percentile(values, 50);
  d.p90 = Percentile(values, 90);
  d.p99 = Percentile(values, 99);
  d.max = *std::max_element(values.begin(), values.end());
  return d;
}

bool MetTtft(const PlannedRequest& plan, const RequestRecord& r) {
  if (r.code != absl::StatusCode::kOk) return false;
  if (plan.ttft_target_ms == 0) return true;
  return r.first_token_s >= 0 && TtftMs(r) <= plan.ttft_target_ms;
}

bool MetTpot(const PlannedRequest& plan, const RequestRecord& r) {
  if (r.code != absl::StatusCode::kOk) return false;
  if (plan.tpot_target_ms == 0 || r.output_tokens < 2) return true;
  return TpotMs(r) <= plan.tpot_target_ms;
}

RunReport BuildReport(const Workload& w, const std::vector<RequestRecord>& records) {
  RunReport report;
  GroupSamples all;
  std::map<std::string, GroupSamples> by_class, by_tenant;
  std::vector<double> lag;
  double last_end = w.measure_start_s;
  for (size_t i = 0; i < w.requests.size() && i < records.size(); ++i) {
    const PlannedRequest& plan = w.requests[i];
    const RequestRecord& r = records[i];
    if (plan.warmup) {
      ++report.warmup_sent;
      (r.code == absl::StatusCode::kOk ? report.warmup_completed : report.warmup_errors) += 1;
      continue;
    }
    all.Add(plan, r);
    by_class[w.classes[plan.class_id].name].Add(plan, r);
    if (plan.tenant_id >= 0) by_tenant[w.tenants[plan.tenant_id].name].Add(plan, r);
    lag.push_back((r.sent_s - r.scheduled_s) * 1000);
    if (lag.back() > kLateMs) ++report.late;
    last_end = std::max(last_end, r.end_s);
    if (r.code != absl::StatusCode::kOk) {
      report.first_error.emplace(absl::StatusCodeToString(r.code), r.error);
    }
  }
  report.all = all.Finish();
  for (auto& [name, g] : by_class) report.by_class[name] = g.Finish();
  for (auto& [name, g] : by_tenant) report.by_tenant[name] = g.Finish();
  report.lag_ms = Summarize(lag);
  report.elapsed_s = last_end - w.measure_start_s;
  report.window_s = w.measure_end_s - w.measure_start_s;
  return report;
}

nlohmann::json ReportJson(const RunReport& r) {
  nlohmann::json j = GroupJson(r.all, r.elapsed_s);
  j["elapsed_s"] = r.elapsed_s;
  j["window_s"] = r.window_s;
  j["warmup"] = {
      {"sent", r.warmup_sent}, {"completed", r.warmup_completed}, {"errors", r.warmup_errors}};
  j["schedule_lag_ms"] = DistributionJson(r.lag_ms);
  j["late_requests"] = r.late;
  j["first_error"] = r.first_error;
  j["classes"] = nlohmann::json::object();
  for (const auto& [name, g] : r.by_class) j["classes"][name] = GroupJson(g, r.elapsed_s);
  j["tenants"] = nlohmann::json::object();
  for (const auto& [name, g] : r.by_tenant) j["tenants"][name] = GroupJson(g, r.elapsed_s);
  return j;
}

std::string FormatReport(const RunReport& r, const std::string& title) {
  const GroupStats& a = r.all;
  std::string out = absl::StrFormat(
      "== %s ==\nmeasured: %d requests sent, %d completed, %d failed (+ %d warm-up); "
      "elapsed %.1f s\n",
      title, a.sent, a.completed, a.errors, r.warmup_sent, r.elapsed_s);
  for (const auto& [code, n] : a.errors_by_code) {
    auto it = r.first_error.find(code);
    absl::StrAppendFormat(&out, "  %s x%d: %s\n", code, n,
                          it == r.first_error.end() ? "" : it->second);
  }
  absl::StrAppendFormat(
      &out, "throughput: %.2f req/s, %.1f output tok/s; goodput %.2f req/s (%s met both targets)\n",
      Ratio(a.completed, r.elapsed_s), Ratio(a.output_tokens, r.elapsed_s),
      Ratio(a.met_both, r.elapsed_s), Pct(a.met_both, a.sent));
  absl::StrAppendFormat(&out,
                        "client lag behind schedule: p99 %s ms, max %s ms, %d late (> %g ms)\n",
                        Ms(r.lag_ms.p99), Ms(r.lag_ms.max), r.late, kLateMs);
  absl::StrAppendFormat(&out, "%-18s %6s %6s %5s  %26s  %23s  %20s  %8s %9s\n", "", "sent", "done",
                        "err", "TTFT ms p50 / p90 / p99", "TPOT ms p50 / p90 / p99",
                        "met: both  ttft  tpot", "goodput", "out tok/s");
  out += TableRow("all", a, r.elapsed_s);
  for (const auto& [name, g] : r.by_class) out += TableRow("class " + name, g, r.elapsed_s);
  for (const auto& [name, g] : r.by_tenant) out += TableRow("tenant " + name, g, r.elapsed_s);
  return out;
}

}  // namespace tessera
