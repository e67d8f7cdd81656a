// What `tessera bench-serve` sends and when: request classes and tenants from the command line,
// and the planned requests, generated as open-loop arrivals (arrival_process.h).
//
//   --class name=chat,weight=0.8,prompt=64:256,output=48:128,ttft_ms=500,tpot_ms=50
//   --tenant name=acme,key=sk-acme-...,rate_share=0.9
//
// A class draws each request's prompt and output lengths uniformly from its ranges ("64:256",
// inclusive) or takes a fixed length ("128"); its targets go into the request's ttft_target_ms /
// tpot_target_ms and are what attainment is measured against (0 = no target). Each tenant is an
// arrival process of its own, at rate_share / (sum of shares) of the request rate, sending its
// own API key (its tenant on a daemon run with --api-keys).
//
// A trace instead of generated arrivals: see bench_trace.h.
//
// All functions here are pure (a seeded generator in, a plan out) and thread-compatible.
#ifndef TESSERA_CLIENT_BENCH_WORKLOAD_H_
#define TESSERA_CLIENT_BENCH_WORKLOAD_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/arrival_process.h"
#include "tessera/v1/inference.pb.h"

namespace tessera {

// Inclusive; min == max is a fixed length.
struct LengthRange {
  int32_t min = 0;
  int32_t max = 0;
};

struct RequestClass {
  std::string name;
  double weight = 1;
  LengthRange prompt{128, 128};
  LengthRange output{64, 64};
  uint32_t ttft_target_ms = 0;  // 0 = none
  uint32_t tpot_target_ms = 0;
  v1::Priority priority = v1::PRIORITY_UNSPECIFIED;
};

struct TenantSpec {
  std::string name;
  std::string api_key;  // empty: the command's --api-key
  double rate_share = 1;
};

// Parses one --class / --tenant value; INVALID_ARGUMENT quotes the spec and names the field at
// fault. `default_name` names a class given without name=.
absl::StatusOr<RequestClass> ParseClassSpec(absl::string_view spec, absl::string_view default_name);
absl::StatusOr<TenantSpec> ParseTenantSpec(absl::string_view spec);
// Parses all of them, and also rejects names given twice. No --class gives one class "default"
// with RequestClass's lengths and no targets.
absl::StatusOr<std::vector<RequestClass>> ParseClassSpecs(const std::vector<std::string>& specs);
absl::StatusOr<std::vector<TenantSpec>> ParseTenantSpecs(const std::vector<std::string>& specs);

struct PlannedRequest {
  double arrival_s = 0;       // from the start of the run
  bool warmup = false;        // sent, but left out of the statistics
  int class_id = 0;           // into Workload::classes
  int tenant_id = -1;         // into Workload::tenants; -1: no tenant
  std::string adapter;        // empty: the base model
  int32_t prompt_tokens = 0;  // random token ids of this length, unless prompt_text is set
  std::string prompt_text;
  int32_t output_tokens = 0;
  uint32_t ttft_target_ms = 0;
  uint32_t tpot_target_ms = 0;
  v1::Priority priority = v1::PRIORITY_UNSPECIFIED;
};

struct Workload {
  std::vector<RequestClass> classes;
  std::vector<TenantSpec> tenants;
  std::vector<PlannedRequest> requests;  // in arrival order
  double measure_start_s = 0;            // arrivals before this are the warm-up
  double measure_end_s = 0;  // the last measured arrival's time (a window's end at most)
};

struct GeneratedWorkloadOptions {
  ArrivalKind arrival = ArrivalKind::kPoisson;
  double request_rate = 1;  // requests per second over all tenants; may be infinity
  double cv = 1;            // of the gaps, gamma only
  double warmup_s = 0;
  // At least one: measured arrivals stop after duration_s (past the warm-up) or after
  // num_requests of them, whichever comes first.
  std::optional<double> duration_s;
  std::optional<int64_t> num_requests;
  std::vector<std::string> adapters;  // drawn Zipf-like by their order; empty: the base model
  double zipf_s = 1;
  uint64_t seed = 0;
};

// The most requests one run plans, a bound on memory for a mistyped rate or duration.
inline constexpr int64_t kMaxPlannedRequests = 10'000'000;

absl::StatusOr<Workload> GenerateWorkload(std::vector<RequestClass> classes,
                                          std::vector<TenantSpec> tenants,
                                          const GeneratedWorkloadOptions& options);

}  // namespace tessera

#endif  // TESSERA_CLIENT_BENCH_WORKLOAD_H_
