#include "server/http/http_endpoint.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

constexpr char kPrometheusTextType[] = "text/plain; version=0.0.4; charset=utf-8";

HttpRouter Routes(const HttpEndpoint::Options& options) {
  HttpRouter router;
  if (options.metrics) {
    router.Add("GET", "/metrics", [metrics = options.metrics](const HttpRequest&) {
      HttpResponse r = HttpResponse::Text(200, metrics());
      r.content_type = kPrometheusTextType;
      return r;
    });
  }
  router.Add("GET", "/healthz", [](const HttpRequest&) { return HttpResponse::Text(200, "ok\n"); });
  router.Add("GET", "/readyz", [readiness = options.readiness](const HttpRequest&) {
    const absl::Status ready = readiness ? readiness() : absl::OkStatus();
    if (ready.ok()) return HttpResponse::Text(200, "ready\n");
    return HttpResponse::Text(503, absl::StrCat("not ready: ", ready.message(), "\n"));
  });
  router.Add("GET", "/health", [readiness = options.readiness](const HttpRequest&) {
    const absl::Status ready = readiness ? readiness() : absl::OkStatus();
    return HttpResponse::Text(ready.ok() ? 200 : 503, "");
  });
  if (!options.version.empty()) {
    // The version is the daemon's own constant: no escaping needed beyond what it holds.
    router.Add("GET", "/version", [version = options.version](const HttpRequest&) {
      return HttpResponse::Json(200, absl::StrCat("{\"version\": \"", version, "\"}"));
    });
  }
  if (options.routes) options.routes(router);
  return router;
}

}  // namespace

HttpEndpoint::HttpEndpoint(Options options)
    : server_(std::make_unique<HttpServer>(Routes(options), options.server)) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

absl::Status HttpEndpoint::Start(const std::string& host, int port) {
  return server_->Start(host, port);
}

void HttpEndpoint::Stop() { server_->Stop(); }

}  // namespace tessera
