// `tessera bench-serve`: an open-loop load generator for a running tesserad, reporting latency
// percentiles, attainment of latency targets, goodput and throughput per class and tenant.
//
//   tessera bench-serve --server HOST:PORT
//       (--request-rate R | --request-rates R1,R2,... | --trace FILE)
//       [--duration S] [--num-requests N] [--warmup S]
//       [--arrival poisson|gamma] [--cv C]
//       [--class name=chat,weight=0.8,prompt=64:256,output=48:128,ttft_ms=500,tpot_ms=50]...
//       [--tenant name=acme,key=KEY,rate_share=0.9]... [--adapters a,b,c] [--zipf S]
//       [--prompt-mode tokens|text] [--seed N] [--json] [--no-progress]
//       + the connection flags (connection_flags.h); --timeout is each request's deadline.
//
// Each rate of a sweep is a run of its own (warm-up included), one after the other; a table
// compares them at the end. Output: a report per run and the sweep table on stdout (--json: one
// JSON object {"runs": [...]} instead); the progress line on stderr. Exit codes: 0 the runs
// finished (failed requests are counted, not fatal), 1 the server could not be asked what it
// serves or every measured request failed, 2 bad flags.
#ifndef TESSERA_CLIENT_BENCH_SERVE_COMMAND_H_
#define TESSERA_CLIENT_BENCH_SERVE_COMMAND_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/connection_flags.h"

namespace tessera {

// The deadline of each request without --timeout.
inline constexpr double kBenchServeTimeoutSeconds = 300;

struct BenchServeOptions {
  ConnectionFlags connection;
  std::optional<std::string> request_rate;  // a number or "inf"
  std::string request_rates;                // comma-separated
  std::string trace;
  std::optional<double> duration_s;
  std::optional<int64_t> num_requests;
  double warmup_s = 0;
  std::string arrival = "poisson";
  double cv = 1;
  std::vector<std::string> classes;
  std::vector<std::string> tenants;
  std::string adapters;  // comma-separated
  double zipf_s = 1;
  std::string prompt_mode = "tokens";
  uint64_t seed = 0;
  bool json = false;
  bool progress = true;
};

// Runs the command: reports to `out`, progress and errors to `err`; returns the exit code.
int RunBenchServe(const BenchServeOptions& options, std::ostream& out, std::ostream& err);

void AddBenchServeCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_BENCH_SERVE_COMMAND_H_
