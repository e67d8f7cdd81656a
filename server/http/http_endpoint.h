// The daemon's HTTP port: Prometheus scrapes, Kubernetes probes, and whatever routes the owner
// adds (the OpenAI API, openai_routes.h).
//   GET /metrics  200, Prometheus text (format 0.0.4) from the metrics callback
//   GET /healthz  200 "ok" while the process serves HTTP at all (liveness)
//   GET /readyz   200 "ready" when the readiness callback returns OK, else 503 with its message
//   GET /health   as vLLM's: 200 with an empty body when ready, else 503 (the gateway's probe)
//   GET /version  {"version": "<version>"} when a version is given
// Other paths are 404, other methods on these paths 405.
//
// Served by HttpServer (Boost.Beast, event-driven): slow, idle or numerous clients hold no thread,
// and the header timeout, keep-alive idle timeout and connection cap in Options.server bound them
// (see http_server.h), so probes answer while hundreds of such connections are open. Not
// prometheus-cpp's Exposer: civetweb's small thread stacks cannot start in a process that links
// cuBLAS (shared/docs/GPU.md). The callbacks run on the server's IO threads, several at once, so
// they must be thread-safe and should be quick. Start and Stop are for the owning thread; Stop
// joins every thread and the destructor stops. One Start per object.
#ifndef TESSERA_SERVER_HTTP_HTTP_ENDPOINT_H_
#define TESSERA_SERVER_HTTP_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "server/http/http_server.h"

namespace tessera {

class HttpEndpoint {
 public:
  struct Options {
    // The body of /metrics. Null: /metrics is 404.
    std::function<std::string()> metrics;
    // OK when the daemon takes requests; otherwise the message says why not. Null: always ready.
    std::function<absl::Status()> readiness;
    HttpServerOptions server;  // threads, timeouts, connection cap, TLS
    std::string version;       // empty: no /version
    // Adds more routes (may be empty); runs once, in the constructor.
    std::function<void(HttpRouter&)> routes;
  };

  explicit HttpEndpoint(Options options);
  ~HttpEndpoint();  // Stop()
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds host:port (port 0: any free port, see port()) and serves from new threads. A host
  // that does not resolve, a port in use or bad server options are errors naming what is wrong.
  absl::Status Start(const std::string& host, int port);
  // Stops accepting, closes every connection and joins the threads. Idempotent.
  void Stop();

  // The bound port once Start succeeded, else 0.
  int port() const { return server_->port(); }
  int num_connections() const { return server_->num_connections(); }

 private:
  std::unique_ptr<HttpServer> server_;
};

}  // namespace tessera

#endif  // TESSERA_SERVER_HTTP_HTTP_ENDPOINT_H_
