#include "client/bench_serve_command.h"

#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/bench_runner.h"
#include "client/bench_stats.h"
#include "client/bench_trace.h"
#include "client/bench_workload.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

constexpr absl::string_view kCommand = "bench-serve";

int Fail(std::ostream& err, const absl::Status& status) {
  err << "tessera " << kCommand << ": " << absl::StatusCodeToString(status.code()) << ": "
      << status.message() << "\n";
  return absl::IsInvalidArgument(status) || absl::IsNotFound(status) ? 2 : 1;
}

absl::StatusOr<double> ParseRate(absl::string_view text) {
  double rate;
  if (!absl::SimpleAtod(text, &rate) || !(rate > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("request rate \"", text, "\" must be a number > 0 (or inf)"));
  }
  return rate;
}

// The rates to run: one per run; NaN for the one run of a trace.
absl::StatusOr<std::vector<double>> Rates(const BenchServeOptions& o) {
  const int given = o.request_rate.has_value() + !o.request_rates.empty() + !o.trace.empty();
  if (given != 1) {
    return absl::InvalidArgumentError(
        "give exactly one of --request-rate, --request-rates and --trace");
  }
  if (!o.trace.empty()) return std::vector<double>{std::numeric_limits<double>::quiet_NaN()};
  std::vector<double> rates;
  for (absl::string_view part :
       absl::StrSplit(o.request_rate.value_or(o.request_rates), ',', absl::SkipWhitespace())) {
    absl::StatusOr<double> rate = ParseRate(part);
    if (!rate.ok()) return rate.status();
    rates.push_back(*rate);
  }
  if (rates.empty()) return absl::InvalidArgumentError("--request-rates is empty");
  return rates;
}

absl::StatusOr<Workload> MakeWorkload(const BenchServeOptions& o, double rate,
                                      std::vector<RequestClass> classes,
                                      std::vector<TenantSpec> tenants) {
  if (!o.trace.empty()) {
    std::ifstream in(o.trace);
    if (!in) return absl::NotFoundError(absl::StrCat("--trace ", o.trace, ": cannot open"));
    return LoadTraceWorkload(in, o.trace, std::move(classes), std::move(tenants), o.warmup_s,
                             o.duration_s, o.num_requests);
  }
  GeneratedWorkloadOptions g;
  absl::StatusOr<ArrivalKind> kind = ParseArrivalKind(o.arrival);
  if (!kind.ok()) return kind.status();
  if (*kind == ArrivalKind::kPoisson && o.cv != 1) {
    return absl::InvalidArgumentError("--cv applies to --arrival gamma only");
  }
  g.arrival = *kind;
  g.request_rate = rate;
  g.cv = o.cv;
  g.warmup_s = o.warmup_s;
  g.duration_s = o.duration_s;
  g.num_requests = o.num_requests;
  for (absl::string_view a : absl::StrSplit(o.adapters, ',', absl::SkipWhitespace())) {
    g.adapters.emplace_back(a);
  }
  g.zipf_s = o.zipf_s;
  g.seed = o.seed;
  return GenerateWorkload(std::move(classes), std::move(tenants), g);
}

// A prompt and its output must fit the model's context, or every such request fails alike.
absl::Status CheckFitsContext(const Workload& w, int64_t max_context) {
  if (max_context <= 0) return absl::OkStatus();
  for (const PlannedRequest& r : w.requests) {
    if (int64_t{r.prompt_tokens} + r.output_tokens > max_context) {
      return absl::InvalidArgumentError(
          absl::StrCat("class ", w.classes[r.class_id].name, ": a prompt of ", r.prompt_tokens,
                       " tokens and ", r.output_tokens,
                       " output tokens exceed the model's context of ", max_context, " tokens"));
    }
  }
  return absl::OkStatus();
}

std::string RateLabel(double rate) {
  if (std::isnan(rate)) return "trace";
  return std::isinf(rate) ? "rate inf" : absl::StrFormat("rate %g/s", rate);
}

std::string SweepTable(const std::vector<std::pair<double, RunReport>>& runs) {
  std::string out =
      absl::StrFormat("%-12s %6s %6s %5s  %9s %7s  %9s %9s  %9s %9s  %9s %10s\n", "rate req/s",
                      "sent", "done", "err", "goodput/s", "met", "TTFT p50", "TTFT p99", "TPOT p50",
                      "TPOT p99", "out tok/s", "max lag ms");
  auto ms = [](double v) { return std::isnan(v) ? std::string("-") : absl::StrFormat("%.1f", v); };
  for (const auto& [rate, r] : runs) {
    const GroupStats& a = r.all;
    const double e = r.elapsed_s > 0 ? r.elapsed_s : std::numeric_limits<double>::quiet_NaN();
    absl::StrAppendFormat(&out, "%-12s %6d %6d %5d  %9.2f %6.1f%%  %9s %9s  %9s %9s  %9.1f %10s\n",
                          std::isnan(rate) ? "trace" : absl::StrFormat("%g", rate), a.sent,
                          a.completed, a.errors, a.met_both / e,
                          a.sent > 0 ? 100.0 * a.met_both / a.sent : 0.0, ms(a.ttft_ms.p50),
                          ms(a.ttft_ms.p99), ms(a.tpot_ms.p50), ms(a.tpot_ms.p99),
                          a.output_tokens / e, ms(r.lag_ms.max));
  }
  return out;
}

}  // namespace

int RunBenchServe(const BenchServeOptions& o, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::vector<double>> rates = Rates(o);
  if (!rates.ok()) return Fail(err, rates.status());
  if (o.prompt_mode != "tokens" && o.prompt_mode != "text") {
    return Fail(err, absl::InvalidArgumentError("--prompt-mode must be tokens or text"));
  }
  absl::StatusOr<std::vector<RequestClass>> classes = ParseClassSpecs(o.classes);
  if (!classes.ok()) return Fail(err, classes.status());
  absl::StatusOr<std::vector<TenantSpec>> tenants = ParseTenantSpecs(o.tenants);
  if (!tenants.ok()) return Fail(err, tenants.status());
  // Every plan is made (and checked) before the first request goes out.
  std::vector<Workload> workloads;
  for (double rate : *rates) {
    absl::StatusOr<Workload> w = MakeWorkload(o, rate, *classes, *tenants);
    if (!w.ok()) return Fail(err, w.status());
    workloads.push_back(*std::move(w));
  }

  ConnectionFlags connection = o.connection;
  // Without --api-key, ModelInfo goes with the first tenant's key: a daemon with --api-keys
  // answers no anonymous call.
  if (connection.api_key.empty() && !tenants->empty()) {
    connection.api_key = tenants->front().api_key;
  }
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectFromFlags(connection);
  if (!client.ok()) return Fail(err, client.status());
  absl::StatusOr<v1::ModelInfoResponse> info = (*client)->ModelInfo();
  if (!info.ok()) {
    return Fail(err, absl::Status(info.status().code(),
                                  absl::StrCat("ModelInfo: ", info.status().message())));
  }
  for (const Workload& w : workloads) {
    if (absl::Status s = CheckFitsContext(w, info->model().max_context_tokens()); !s.ok()) {
      return Fail(err, s);
    }
  }

  LoadRunOptions run;
  if (o.connection.timeout_seconds > 0)
    run.request_timeout = absl::Seconds(o.connection.timeout_seconds);
  run.api_key = o.connection.api_key;
  run.text_prompts = o.prompt_mode == "text";
  run.vocab_size = info->model().vocab_size();
  run.seed = o.seed;
  run.progress = o.progress ? &err : nullptr;
  std::vector<std::pair<double, RunReport>> reports;
  nlohmann::json json_runs = nlohmann::json::array();
  for (size_t i = 0; i < workloads.size(); ++i) {
    const double rate = (*rates)[i];
    run.progress_label = RateLabel(rate);
    run.request_id_prefix = absl::StrCat("bench-", o.seed, "-", i);
    const std::vector<RequestRecord> records = RunLoad((*client)->channel(), workloads[i], run);
    RunReport report = BuildReport(workloads[i], records);
    if (o.json) {
      nlohmann::json j = ReportJson(report);
      j["request_rate"] = std::isnan(rate) ? nlohmann::json() : nlohmann::json(rate);
      if (o.trace.empty()) {
        j["arrival"] = o.arrival;
        j["cv"] = o.cv;
      } else {
        j["trace"] = o.trace;
      }
      json_runs.push_back(std::move(j));
    } else {
      out << FormatReport(report, absl::StrCat(RateLabel(rate), " (", info->model_id(), ")"))
          << "\n"
          << std::flush;
    }
    reports.emplace_back(rate, std::move(report));
  }
  if (o.json) {
    out << nlohmann::json{{"model_id", info->model_id()}, {"runs", json_runs}}.dump(2) << "\n";
  } else if (reports.size() > 1) {
    out << SweepTable(reports);
  }
  out.flush();
  for (const auto& [rate, r] : reports) {
    if (r.all.sent > 0 && r.all.completed == 0) {
      err << "tessera " << kCommand << ": every measured request failed at " << RateLabel(rate)
          << "\n";
      return 1;
    }
  }
  return out.good() ? 0 : 1;
}

void AddBenchServeCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<BenchServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench-serve", "Open-loop load test of a running tesserad: latency, SLO attainment, goodput");
  AddConnectionFlags(*cmd, &o->connection, kBenchServeTimeoutSeconds);
  cmd->add_option("--request-rate", o->request_rate,
                  "Mean arrivals per second over all tenants (inf: all at once)");
  cmd->add_option("--request-rates", o->request_rates,
                  "A sweep: comma-separated rates, one run each, and a table at the end");
  cmd->add_option("--trace", o->trace, "JSONL trace of the requests to send (see README)");
  cmd->add_option("--duration", o->duration_s, "Seconds of measured arrivals (after the warm-up)");
  cmd->add_option("--num-requests", o->num_requests, "Measured requests to send");
  cmd->add_option("--warmup", o->warmup_s,
                  "Seconds of arrivals sent first and left out of the "
                  "statistics")
      ->capture_default_str();
  cmd->add_option("--arrival", o->arrival, "poisson | gamma")
      ->check(CLI::IsMember({"poisson", "gamma"}))
      ->capture_default_str();
  cmd->add_option("--cv", o->cv,
                  "Coefficient of variation of the gaps between arrivals (gamma; > 1 bursty)")
      ->capture_default_str();
  cmd->add_option("--class", o->classes,
                  "A request class: name=,weight=,prompt=MIN:MAX,output=MIN:MAX,ttft_ms=,tpot_ms=,"
                  "priority= (repeatable)");
  cmd->add_option("--tenant", o->tenants, "A tenant: name=,key=,rate_share= (repeatable)");
  cmd->add_option("--adapters", o->adapters,
                  "Comma-separated LoRA adapters, drawn Zipf-like by their order");
  cmd->add_option("--zipf", o->zipf_s, "Zipf exponent of the adapters' popularity, 0 = uniform")
      ->capture_default_str();
  cmd->add_option("--prompt-mode", o->prompt_mode,
                  "tokens: random token ids of exact lengths; text: random words")
      ->check(CLI::IsMember({"tokens", "text"}))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the arrivals, lengths and prompts")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON report instead of tables");
  cmd->add_flag("!--no-progress", o->progress, "No progress line on stderr");
  cmd->callback([o, exit_code] { *exit_code = RunBenchServe(*o, std::cout, std::cerr); });
}

}  // namespace tessera
