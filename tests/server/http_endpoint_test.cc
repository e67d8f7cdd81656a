#include "server/http_endpoint.h"

#include <atomic>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/metric_names.h"
#include "server/metrics_exporter.h"
#include "tests/server/prometheus_text.h"

namespace tessera {
namespace {

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
  httplib::Client client(kHost, endpoint.port());

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "# TYPE x gauge\nx 1\n");
  EXPECT_THAT(metrics->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  for (const char* path : {"/", "/metricsx", "/metrics/", "/livez"}) {
    auto other = client.Get(path);
    ASSERT_TRUE(other) << path;
    EXPECT_EQ(other->status, 404) << path;
  }
  endpoint.Stop();
}

TEST(HttpEndpointTest, ReadinessFollowsTheCallback) {
  std::atomic<bool> ready{false};
  HttpEndpoint::Options o;
  o.readiness = [&ready] {
    return ready ? absl::OkStatus() : absl::UnavailableError("the model is still loading");
  };
  HttpEndpoint endpoint(std::move(o));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  httplib::Client client(kHost, endpoint.port());

  auto not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_THAT(not_ready->body, HasSubstr("the model is still loading"));

  ready = true;
  auto is_ready = client.Get("/readyz");
  ASSERT_TRUE(is_ready);
  EXPECT_EQ(is_ready->status, 200);

  // No metrics callback: no /metrics.
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 404);
}

TEST(HttpEndpointTest, ServesTheExportersText) {
  MetricsExporter exporter("m", CacheConfigInfo{});
  SchedulerStats stats;
  stats.num_requests_waiting = 9;
  HttpEndpoint::Options o;
  o.metrics = [&] { return exporter.Render(stats, EdgeStats{}); };
  HttpEndpoint endpoint(std::move(o));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  httplib::Client client(kHost, endpoint.port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  absl::StatusOr<PrometheusText> t = ParsePrometheusText(res->body);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->types.at(metric_names::kNumRequestsWaiting), "gauge");
  EXPECT_EQ(*t->Value(metric_names::kNumRequestsWaiting), 9);
}

TEST(HttpEndpointTest, StopClosesThePort) {
  HttpEndpoint endpoint(FixedMetrics("x 1\n"));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  const int port = endpoint.port();
  {
    httplib::Client client(kHost, port);
    ASSERT_TRUE(client.Get("/healthz"));
  }
  endpoint.Stop();
  endpoint.Stop();  // idempotent
  httplib::Client client(kHost, port);
  auto res = client.Get("/healthz");
  EXPECT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::Connection);
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
  httplib::Client client(kHost, first.port());
  auto res = client.Get("/healthz");
  ASSERT_TRUE(res);
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
