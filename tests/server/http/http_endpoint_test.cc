#include "server/http/http_endpoint.h"

#include <atomic>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metric_names.h"
#include "server/metrics_exporter.h"
#include "tests/server/http_test_client.h"
#include "tests/server/prometheus_text.h"

namespace tessera {
namespace {

using ::tessera::http_test::HttpGet;
using ::tessera::http_test::HttpTestClient;
using ::tessera::http_test::RawConnection;
using ::testing::HasSubstr;

constexpr char kHost[] = "127.0.0.1";

HttpEndpoint::Options FixedMetrics(std::string body) {
  HttpEndpoint::Options o;
  o.metrics = [body] { return body; };
  return o;
}

TEST(HttpEndpointTest, ServesMetricsHealthAndNotFound) {
  HttpEndpoint endpoint(FixedMetrics("# TYPE x gauge\nx 1\n"));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  ASSERT_GT(endpoint.port(), 0);
  HttpTestClient client(endpoint.port());

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "# TYPE x gauge\nx 1\n");
  EXPECT_THAT(metrics->content_type, HasSubstr("text/plain; version=0.0.4"));

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  for (const char* path : {"/", "/metricsx", "/metrics/", "/livez", "/healthz/x"}) {
    auto other = client.Get(path);
    ASSERT_TRUE(other.ok()) << path << ": " << other.status();
    EXPECT_EQ(other->status, 404) << path;
  }
  // A query string does not change the route.
  auto with_query = client.Get("/healthz?verbose=1");
  ASSERT_TRUE(with_query.ok()) << with_query.status();
  EXPECT_EQ(with_query->status, 200);
  // All of it on one kept-alive connection.
  EXPECT_EQ(client.connections(), 1);
  endpoint.Stop();
}

TEST(HttpEndpointTest, OtherMethodsAre405) {
  HttpEndpoint endpoint(FixedMetrics("x 1\n"));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  HttpTestClient client(endpoint.port());
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "BREW"}) {
    for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
      auto res = client.Request(method, path);
      ASSERT_TRUE(res.ok()) << method << " " << path << ": " << res.status();
      EXPECT_EQ(res->status, 405) << method << " " << path;
    }
  }
  auto unknown = client.Request("POST", "/nowhere");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_EQ(unknown->status, 404);
}

TEST(HttpEndpointTest, MalformedOrOversizedRequestsGetAnErrorAndAClose) {
  HttpEndpoint endpoint(FixedMetrics("x 1\n"));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  struct Case {
    std::string request;
    const char* status_line;
  };
  const Case cases[] = {
      {"NOT HTTP AT ALL\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {absl::StrCat("GET /healthz HTTP/1.1\r\nX: ", std::string(20000, 'a'), "\r\n\r\n"),
       "HTTP/1.1 431 Request Header Fields Too Large"},
      {"POST /healthz HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n",
       "HTTP/1.1 413 Payload Too Large"},
  };
  for (const Case& c : cases) {
    RawConnection raw(endpoint.port());
    ASSERT_TRUE(raw.Send(c.request));
    std::string received;
    EXPECT_TRUE(raw.WaitForClose(absl::Seconds(5), &received)) << c.status_line;
    EXPECT_THAT(received, ::testing::StartsWith(c.status_line));
  }
}

TEST(HttpEndpointTest, BadServerOptionsAreAnError) {
  HttpEndpoint::Options o;
  o.server.max_connections = 0;
  HttpEndpoint no_connections(o);
  const absl::Status s = no_connections.Start(kHost, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("max_connections"));
  o = {};
  o.server.header_timeout = absl::ZeroDuration();
  HttpEndpoint no_time(o);
  EXPECT_THAT(std::string(no_time.Start(kHost, 0).message()),
              HasSubstr("timeouts must be positive"));
  no_time.Stop();
}

TEST(HttpEndpointTest, ReadinessFollowsTheCallback) {
  std::atomic<bool> ready{false};
  HttpEndpoint::Options o;
  o.readiness = [&ready] {
    return ready ? absl::OkStatus() : absl::UnavailableError("the model is still loading");
  };
  HttpEndpoint endpoint(std::move(o));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  HttpTestClient client(endpoint.port());

  auto not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready.ok()) << not_ready.status();
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_THAT(not_ready->body, HasSubstr("the model is still loading"));

  ready = true;
  auto is_ready = client.Get("/readyz");
  ASSERT_TRUE(is_ready.ok()) << is_ready.status();
  EXPECT_EQ(is_ready->status, 200);

  // No metrics callback: no /metrics.
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 404);
}

TEST(HttpEndpointTest, HealthIsVllmsAndVersionAndAddedRoutesAreServed) {
  std::atomic<bool> ready{false};
  HttpEndpoint::Options o;
  o.readiness = [&ready] { return ready ? absl::OkStatus() : absl::UnavailableError("draining"); };
  o.version = "1.2.3";
  o.routes = [](HttpRouter& router) {
    router.Add("GET", "/extra", [](const HttpRequest&) { return HttpResponse::Text(200, "x"); });
  };
  HttpEndpoint endpoint(std::move(o));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  HttpTestClient client(endpoint.port());
  auto not_ready = client.Get("/health");
  ASSERT_TRUE(not_ready.ok()) << not_ready.status();
  EXPECT_EQ(not_ready->status, 503);
  ready = true;
  auto healthy = client.Get("/health");
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_EQ(healthy->status, 200);
  EXPECT_EQ(healthy->body, "");
  auto version = client.Get("/version");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->content_type, "application/json");
  EXPECT_EQ(version->body, R"({"version": "1.2.3"})");
  auto extra = client.Get("/extra");
  ASSERT_TRUE(extra.ok()) << extra.status();
  EXPECT_EQ(extra->body, "x");
}

TEST(HttpEndpointTest, ServesTheExportersText) {
  MetricsExporter exporter("m", CacheConfigInfo{});
  SchedulerStats stats;
  stats.num_requests_waiting = 9;
  HttpEndpoint::Options o;
  o.metrics = [&] { return exporter.Render(stats, EdgeStats{}); };
  HttpEndpoint endpoint(std::move(o));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  auto res = HttpGet(endpoint.port(), "/metrics");
  ASSERT_TRUE(res.ok()) << res.status();
  absl::StatusOr<PrometheusText> t = ParsePrometheusText(res->body);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->types.at(metric_names::kNumRequestsWaiting), "gauge");
  EXPECT_EQ(*t->Value(metric_names::kNumRequestsWaiting), 9);
}

TEST(HttpEndpointTest, StopClosesThePort) {
  HttpEndpoint endpoint(FixedMetrics("x 1\n"));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  const int port = endpoint.port();
  ASSERT_TRUE(HttpGet(port, "/healthz").ok());
  endpoint.Stop();
  endpoint.Stop();  // idempotent
  auto res = HttpGet(port, "/healthz");
  ASSERT_FALSE(res.ok());
  EXPECT_THAT(std::string(res.status().message()), HasSubstr("connect: Connection refused"));
  EXPECT_FALSE(endpoint.Start(kHost, 0).ok()) << "one Start per object";
}

TEST(HttpEndpointTest, StopRightAfterStartReturns) {
  for (int i = 0; i < 20; ++i) {
    HttpEndpoint endpoint(HttpEndpoint::Options{});
    ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
    endpoint.Stop();
  }
}

TEST(HttpEndpointTest, NeverStartedIsFine) {
  HttpEndpoint endpoint(HttpEndpoint::Options{});
  EXPECT_EQ(endpoint.port(), 0);
  endpoint.Stop();
}

TEST(HttpEndpointTest, APortInUseIsAClearError) {
  HttpEndpoint first(HttpEndpoint::Options{});
  ASSERT_TRUE(first.Start(kHost, 0).ok());
  HttpEndpoint second(HttpEndpoint::Options{});
  const absl::Status s = second.Start(kHost, first.port());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(absl::StrCat("127.0.0.1:", first.port(), ": Address already in use")));
  // The first one still serves.
  auto res = HttpGet(first.port(), "/healthz");
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
}

TEST(HttpEndpointTest, BadHostOrPortIsAnError) {
  HttpEndpoint bad_host(HttpEndpoint::Options{});
  const absl::Status s = bad_host.Start("no-such-host.invalid", 0);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("no-such-host.invalid:0"));
  HttpEndpoint bad_port(HttpEndpoint::Options{});
  EXPECT_EQ(bad_port.Start(kHost, 70000).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera
