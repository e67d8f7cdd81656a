// The daemon's plain-HTTP side: Prometheus scrapes and Kubernetes probes.
//   GET /metrics  200, Prometheus text (format 0.0.4) from the metrics callback
//   GET /healthz  200 "ok" while the process serves HTTP at all (liveness)
//   GET /readyz   200 "ready" when the readiness callback returns OK, else 503 with its message
// Anything else is 404.
//
// Built on cpp-httplib, not prometheus-cpp's Exposer: civetweb's small thread stacks cannot start
// in a process that links cuBLAS (shared/docs/GPU.md). The server runs a listener thread and a
// small worker pool of its own; the callbacks run on the workers, several at once, so they must
// be thread-safe. Start and Stop are for the owning thread; Stop joins every thread and the
// destructor stops. One Start per object.
#ifndef TESSERA_SERVER_HTTP_ENDPOINT_H_
#define TESSERA_SERVER_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"

namespace httplib {
class Server;
}

namespace tessera {

class HttpEndpoint {
 public:
  struct Options {
    // The body of /metrics. Null: /metrics is 404.
    std::function<std::string()> metrics;
    // OK when the daemon takes requests; otherwise the message says why not. Null: always ready.
    std::function<absl::Status()> readiness;
    int num_threads = 4;  // workers serving requests; scrapes and probes are light
  };

  explicit HttpEndpoint(Options options);
  ~HttpEndpoint();  // Stop()
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds host:port (port 0: any free port, see port()) and serves from a new thread. A host
  // that does not resolve or a port in use is an error naming host:port.
  absl::Status Start(const std::string& host, int port);
  // Stops accepting, waits for requests in progress and joins the threads. Idempotent.
  void Stop();

  // The bound port once Start succeeded, else 0.
  int port() const { return port_; }

 private:
  Options options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  absl::Notification listener_done_;
  int port_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_SERVER_HTTP_ENDPOINT_H_
