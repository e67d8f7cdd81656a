// The HTTP port under slow, idle and excess clients: probes and scrapes still answer, and every
// connection's time and number are bounded (issue 14, defect 3).
#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/http_endpoint.h"
#include "tests/server/http_test_client.h"

namespace tessera {
namespace {

using ::tessera::http_test::HttpGet;
using ::tessera::http_test::HttpReply;
using ::tessera::http_test::RawConnection;
using ::testing::HasSubstr;

constexpr char kHost[] = "127.0.0.1";
constexpr char kMetricsBody[] = "# TYPE x gauge\nx 1\n";

HttpEndpoint::Options ProbeOptions() {
  HttpEndpoint::Options o;
  o.metrics = [] { return std::string(kMetricsBody); };
  o.readiness = [] { return absl::OkStatus(); };
  return o;
}

// Connections that hold the port without finishing a request: `idle` send nothing, `trickling`
// send a request header one byte per second (a slow-loris client) from a helper thread.
class SlowClients {
 public:
  SlowClients(int port, int idle, int trickling) {
    for (int i = 0; i < idle + trickling; ++i) {
      auto c = std::make_unique<RawConnection>(port);
      if (c->connected()) ++connected_;
      (i < idle ? idle_ : trickling_).push_back(std::move(c));
    }
    trickler_ = std::thread([this] {
      const std::string header =
          absl::StrCat("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", std::string(4096, 'a'));
      for (size_t next = 0; next < header.size(); ++next) {
        for (auto& c : trickling_) c->Send(header.substr(next, 1));
        if (stop_.WaitForNotificationWithTimeout(absl::Seconds(1))) return;
      }
    });
  }
  ~SlowClients() { Stop(); }
  void Stop() {
    if (!trickler_.joinable()) return;
    stop_.Notify();
    trickler_.join();
  }
  int connected() const { return connected_; }
  // How many of the connections the server has closed (waits up to `timeout` on each).
  int NumClosed(absl::Duration timeout) {
    int closed = 0;
    for (auto* group : {&idle_, &trickling_}) {
      for (auto& c : *group) closed += c->WaitForClose(timeout) ? 1 : 0;
    }
    return closed;
  }

 private:
  std::vector<std::unique_ptr<RawConnection>> idle_;
  std::vector<std::unique_ptr<RawConnection>> trickling_;
  int connected_ = 0;
  absl::Notification stop_;
  std::thread trickler_;
};

// A request on a fresh connection, with how long it took.
struct Timed {
  absl::StatusOr<HttpReply> reply;
  absl::Duration took;
};
Timed TimedGet(int port, const std::string& path) {
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpReply> reply = HttpGet(port, path, absl::Seconds(5));
  return {std::move(reply), absl::Now() - start};
}

TEST(HttpEndpointSlowClientsTest, ProbesAnswerWhile200SlowConnectionsAreOpen) {
  HttpEndpoint endpoint(ProbeOptions());
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  SlowClients slow(endpoint.port(), /*idle=*/100, /*trickling=*/100);
  ASSERT_EQ(slow.connected(), 200);
  absl::SleepFor(absl::Milliseconds(300));  // the server has taken them all by now

  struct Probe {
    const char* path;
    const char* body;
    const char* content_type;
  };
  for (const Probe& p :
       {Probe{"/healthz", "ok\n", "text/plain"}, Probe{"/readyz", "ready\n", "text/plain"},
        Probe{"/metrics", kMetricsBody, "text/plain; version=0.0.4"}}) {
    const Timed t = TimedGet(endpoint.port(), p.path);
    ASSERT_TRUE(t.reply.ok()) << p.path
                              << " unanswered with 200 slow connections open: " << t.reply.status()
                              << " after " << t.took;
    EXPECT_EQ(t.reply->status, 200) << p.path;
    EXPECT_EQ(t.reply->body, p.body) << p.path;
    EXPECT_THAT(t.reply->content_type, HasSubstr(p.content_type)) << p.path;
    // Generous: the requirement is 100 ms; machines running the tests are shared.
    EXPECT_LT(t.took, absl::Seconds(2)) << p.path;
    std::cout << p.path << " answered in " << t.took << " with 200 slow connections open\n";
  }

  // The median of a series, for the record (the requirement: under 100 ms).
  std::vector<absl::Duration> took;
  for (int i = 0; i < 21; ++i) {
    const Timed t = TimedGet(endpoint.port(), "/healthz");
    ASSERT_TRUE(t.reply.ok()) << t.reply.status();
    EXPECT_EQ(t.reply->status, 200);
    took.push_back(t.took);
  }
  std::sort(took.begin(), took.end());
  std::cout << "/healthz with 200 slow connections open: median " << took[took.size() / 2]
            << ", max " << took.back() << " over " << took.size() << " requests\n";

  // The slow connections were really held open all along (the header timeout is 10 s).
  slow.Stop();
  EXPECT_EQ(slow.NumClosed(absl::ZeroDuration()), 0);
}

HttpEndpoint::Options ShortTimeouts() {
  HttpEndpoint::Options o = ProbeOptions();
  o.server.header_timeout = absl::Milliseconds(300);
  o.server.idle_timeout = absl::Milliseconds(300);
  return o;
}

TEST(HttpEndpointSlowClientsTest, AnUnfinishedHeaderIsClosedAtTheHeaderTimeout) {
  HttpEndpoint endpoint(ShortTimeouts());
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  RawConnection silent(endpoint.port());
  RawConnection partial(endpoint.port());
  ASSERT_TRUE(silent.connected() && partial.connected());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(partial.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(partial.WaitForClose(absl::Seconds(5)));
  EXPECT_TRUE(silent.WaitForClose(absl::Seconds(5)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(250));  // not before the timeout
  EXPECT_LT(took, absl::Seconds(3));
  std::cout << "unfinished headers closed after " << took << " (header timeout 300ms)\n";
}

TEST(HttpEndpointSlowClientsTest, TricklingDoesNotExtendTheHeaderTimeout) {
  HttpEndpoint endpoint(ShortTimeouts());
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  RawConnection trickling(endpoint.port());
  ASSERT_TRUE(trickling.connected());
  // A byte every 50 ms: never a second of silence, yet the header is never finished.
  const absl::Time start = absl::Now();
  const std::string header = absl::StrCat("GET /healthz HTTP/1.1\r\nX: ", std::string(200, 'a'));
  bool closed = false;
  for (size_t i = 0; i < header.size() && !closed; ++i) {
    closed = !trickling.Send(header.substr(i, 1)) || trickling.WaitForClose(absl::Milliseconds(50));
  }
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(closed) << "still open after " << took;
  EXPECT_LT(took, absl::Seconds(3));
}

TEST(HttpEndpointSlowClientsTest, AConnectionOverTheCapIsRefusedAtOnce) {
  HttpEndpoint::Options o = ProbeOptions();
  o.server.max_connections = 4;
  o.server.header_timeout = absl::Seconds(30);  // a queued connection would wait this long
  HttpEndpoint endpoint(std::move(o));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  std::vector<std::unique_ptr<RawConnection>> holders;
  for (int i = 0; i < 4; ++i) {
    holders.push_back(std::make_unique<RawConnection>(endpoint.port()));
    ASSERT_TRUE(holders.back()->connected());
  }
  absl::SleepFor(absl::Milliseconds(200));  // accepted by now
  const Timed over = TimedGet(endpoint.port(), "/healthz");
  EXPECT_LT(over.took, absl::Seconds(2));
  // Refused: a 503, or the connection closed before an answer could be read.
  if (over.reply.ok()) {
    EXPECT_EQ(over.reply->status, 503);
    EXPECT_EQ(over.reply->body, "too many connections\n");
  }
  std::cout << "over the cap: "
            << (over.reply.ok() ? absl::StrCat(over.reply->status) : over.reply.status().ToString())
            << " after " << over.took << "\n";
  // The holders were not closed to make room.
  for (auto& h : holders) EXPECT_FALSE(h->WaitForClose(absl::ZeroDuration()));
  // A freed place is taken again.
  holders.pop_back();
  absl::StatusOr<HttpReply> again;
  for (int i = 0; i < 50; ++i) {  // until the server has seen the close
    again = HttpGet(endpoint.port(), "/healthz");
    if (again.ok() && again->status == 200) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status, 200);
}

TEST(HttpEndpointSlowClientsTest, KeepAliveServesManyRequestsThenIdlesOut) {
  HttpEndpoint endpoint(ShortTimeouts());
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  RawConnection c(endpoint.port());
  ASSERT_TRUE(c.connected());
  // Three requests in one write (pipelined), then silence.
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(c.Send(get + get + get));
  std::string received;
  const absl::Time start = absl::Now();
  EXPECT_TRUE(c.WaitForClose(absl::Seconds(5), &received));
  const absl::Duration took = absl::Now() - start;
  size_t answers = 0;
  for (size_t at = received.find("HTTP/1.1 200 OK"); at != std::string::npos;
       at = received.find("HTTP/1.1 200 OK", at + 1)) {
    ++answers;
  }
  EXPECT_EQ(answers, 3) << received;
  EXPECT_GE(took, absl::Milliseconds(250)) << "closed before the idle timeout";
  EXPECT_LT(took, absl::Seconds(3));

  // A well-behaved client keeps one connection for a series of requests.
  http_test::HttpTestClient client(endpoint.port());
  for (int i = 0; i < 5; ++i) {
    auto r = client.Get(i % 2 ? "/readyz" : "/healthz");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->keep_alive);
  }
  EXPECT_EQ(client.connections(), 1);
}

TEST(HttpEndpointSlowClientsTest, ASlowMetricsCallbackDoesNotStallProbes) {
  absl::Notification release;
  HttpEndpoint::Options o = ProbeOptions();
  o.metrics = [&release] {
    release.WaitForNotificationWithTimeout(absl::Seconds(10));
    return std::string(kMetricsBody);
  };
  HttpEndpoint endpoint(std::move(o));
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  std::thread scrape([&] {
    auto r = HttpGet(endpoint.port(), "/metrics", absl::Seconds(15));
    EXPECT_TRUE(r.ok()) << r.status();
  });
  absl::SleepFor(absl::Milliseconds(100));  // the scrape holds a thread now
  const Timed health = TimedGet(endpoint.port(), "/healthz");
  release.Notify();
  scrape.join();
  ASSERT_TRUE(health.reply.ok()) << health.reply.status();
  EXPECT_EQ(health.reply->status, 200);
  EXPECT_LT(health.took, absl::Seconds(2));
}

TEST(HttpEndpointSlowClientsTest, StopReturnsPromptlyWithSlowConnectionsOpen) {
  HttpEndpoint endpoint(ProbeOptions());
  ASSERT_TRUE(endpoint.Start(kHost, 0).ok());
  SlowClients slow(endpoint.port(), /*idle=*/20, /*trickling=*/20);
  ASSERT_EQ(slow.connected(), 40);
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  endpoint.Stop();
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(1));
  std::cout << "Stop with 40 slow connections open took " << took << "\n";
  slow.Stop();
  EXPECT_EQ(slow.NumClosed(absl::Seconds(1)), 40) << "Stop closes every connection";
}

}  // namespace
}  // namespace tessera
