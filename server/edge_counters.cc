#include "server/edge_counters.h"

namespace tessera {

std::string StatusCodeName(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);
  // A value outside the enum (a cast from a newer gRPC) gets no name of its own.
  return name.empty() ? "UNKNOWN" : name;
}

void EdgeCounters::RecordRejected(std::string_view tenant, absl::StatusCode reason) {
  std::string name = StatusCodeName(reason);
  absl::MutexLock lock(&mu_);
  ++stats_.tenants[std::string(tenant)].rejected[std::move(name)];
}

void EdgeCounters::RecordSubmitRefused(std::string_view tenant, const absl::Status& status) {
  if (status.ok() || absl::IsResourceExhausted(status)) return;
  RecordRejected(tenant, status.code());
}

void EdgeCounters::RecordStarted(std::string_view tenant) {
  absl::MutexLock lock(&mu_);
  ++stats_.tenants[std::string(tenant)].started;
}

void EdgeCounters::RecordFinished(std::string_view tenant, absl::StatusCode code) {
  std::string name = StatusCodeName(code);
  absl::MutexLock lock(&mu_);
  ++stats_.tenants[std::string(tenant)].finished[std::move(name)];
}

EdgeStats EdgeCounters::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace tessera
