// tesserad assembled: the engine, the scheduler thread, the gRPC server (Inference, health,
// reflection), the HTTP port (OpenAI API, metrics, probes) and the metrics-only HTTP endpoint,
// with their shutdown order. Both front ends admit requests through one InferenceEdge.
//
// Start loads everything and starts serving; Drain is the SIGTERM path: readiness goes
// NOT_SERVING at once, new calls get UNAVAILABLE, requests in flight get up to the drain timeout
// to finish, the rest are cancelled, and the servers stop. Drain must be called from one thread;
// the rest of the class is thread-safe.
//
// Sleep mode (sleep_controller.h; POST /sleep, /wake_up, tessera.v1.Admin): while asleep the
// daemon is live (/healthz 200) but not ready (/readyz and /health 503, gRPC health of
// tessera.v1.Inference NOT_SERVING). A drain while asleep does not wait for requests parked
// until a wake: they end UNAVAILABLE at once.
#ifndef TESSERA_SERVER_DAEMON_H_
#define TESSERA_SERVER_DAEMON_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/adapter_registry.h"
#include "engine/engine_loader.h"
#include "engine/phase_timer.h"
#include "scheduler/scheduler.h"
#include "scheduler/token_rate_limiter.h"
#include "server/admin_service.h"
#include "server/api_keys.h"
#include "server/authenticator.h"
#include "server/chat_setup.h"
#include "server/daemon_options.h"
#include "server/edge_counters.h"
#include "server/http/http_endpoint.h"
#include "server/inference_edge.h"
#include "server/inference_service.h"
#include "server/metrics_exporter.h"
#include "server/sleep_controller.h"
#include "server/tenant_limiter.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

class Daemon {
 public:
  // Logs the memory plan, the start's phases (server/start_log.h) and the addresses it listens on
  // to stderr.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const DaemonOptions& options);
  ~Daemon();  // Drain(0) if not drained
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const;
  int http_port() const;  // -1 when off

  // Returns when every request has finished, or `timeout` passed, or `stop_waiting` (polled
  // every few milliseconds; may be empty) says so; then cancels what is left and stops serving.
  void Drain(absl::Duration timeout, const std::function<bool()>& stop_waiting = {});

  bool ready() const;
  // Where the start's time went, in order (engine/phase_timer.h names), as logged.
  const std::vector<PhaseTimer::Phase>& start_phases() const { return start_phases_; }
  SleepController& sleep() { return *sleep_; }
  // Requests in the scheduler (queued or running).
  int32_t num_in_flight() const { return scheduler_->num_in_flight(); }

 private:
  explicit Daemon(const DaemonOptions& options);
  absl::Status Init();
  v1::ModelInfoResponse MakeModelInfo() const;
  std::string RenderMetrics() const;
  // OK when the daemon takes requests; why not otherwise (draining, asleep, engine failure).
  absl::Status Readiness() const;
  // gRPC health of tessera.v1.Inference after a sleep or wake (left alone once draining).
  void SetInferenceServing(bool serving);
  absl::Status StartAdapters();
  // Seeds the step-time model from a short profiling pass (--profile-steps) and logs the fit.
  void ProfileStepTime();
  absl::Status StartHttp();
  std::string ModelRoot() const;

  DaemonOptions options_;
  std::unique_ptr<Tokenizer> tokenizer_;
  LoadedEngine engine_;
  // Before the scheduler: requests in flight hold leases on it until the scheduler drops them.
  std::unique_ptr<AdapterRegistry> adapters_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<SleepController> sleep_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<TenantLimiter> tenant_limiter_;
  std::map<std::string, TenantPolicy> tenant_policies_;  // from the --api-keys file
  TokenRateLimiter token_limiter_;                       // tenants' tokens_per_minute
  EdgeCounters counters_;
  std::unique_ptr<MetricsExporter> exporter_;
  std::atomic<bool> draining_{false};
  bool drained_ = false;
  ChatSetup chat_;
  std::unique_ptr<InferenceEdge> edge_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  int grpc_port_ = 0;
  std::unique_ptr<HttpEndpoint> http_;           // --metrics-port: metrics and probes only
  std::unique_ptr<HttpEndpoint> api_http_;       // --http-port: the OpenAI API, metrics and probes
  std::vector<PhaseTimer::Phase> start_phases_;  // set once Init has succeeded
};

}  // namespace tessera

#endif  // TESSERA_SERVER_DAEMON_H_
