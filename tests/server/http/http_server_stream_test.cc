// HttpServer's asynchronous answers: a body streamed in chunks from another thread, a slow reader
// cut off at the stream buffer's bound (the producer told, memory bounded), a client that closes
// mid-stream noticed at once, a dropped responder answered 500, many open streams on two IO
// threads, and the same over TLS.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/http/http_server.h"
#include "tests/engine/test_files.h"
#include "tests/server/http_test_client.h"
#include "tests/server/test_certificates.h"

namespace tessera {
namespace {

using ::tessera::http_test::HttpGet;
using ::tessera::http_test::RawConnection;
using ::testing::HasSubstr;

constexpr char kHost[] = "127.0.0.1";

// Hands each request's responder to the test, which answers from its own thread.
struct Parked {
  absl::Mutex mu;
  std::vector<std::shared_ptr<HttpResponder>> responders ABSL_GUARDED_BY(mu);

  std::shared_ptr<HttpResponder> Wait() {
    absl::MutexLock lock(
        &mu, absl::Condition(
                 +[](std::vector<std::shared_ptr<HttpResponder>>* v) { return !v->empty(); },
                 &responders));
    std::shared_ptr<HttpResponder> r = responders.back();
    responders.pop_back();
    return r;
  }
};

HttpRouter ParkingRouter(Parked& parked) {
  HttpRouter router;
  router.AddAsync("GET", "/stream",
                  [&parked](const HttpRequest&, std::shared_ptr<HttpResponder> r) {
                    absl::MutexLock lock(&parked.mu);
                    parked.responders.push_back(std::move(r));
                  });
  router.AddAsync("GET", "/drop", [](const HttpRequest&, std::shared_ptr<HttpResponder>) {});
  router.Add("GET", "/plain",
             [](const HttpRequest&) { return HttpResponse::Text(200, "plain\n"); });
  return router;
}

int NumThreads() {
  int n = 0;
  DIR* dir = opendir("/proc/self/task");
  while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
  closedir(dir);
  return n;
}

TEST(HttpServerStreamTest, ChunksFromAnotherThreadArriveInOrderAndTheConnectionIsReused) {
  Parked parked;
  HttpServer server(ParkingRouter(parked), {});
  ASSERT_TRUE(server.Start(kHost, 0).ok());
  http_test::HttpTestClient client(server.port());
  std::thread producer([&parked] {
    std::shared_ptr<HttpResponder> r = parked.Wait();
    r->BeginStream(200, kEventStreamType, {{"X-Test", "1"}});
    for (int i = 0; i < 50; ++i) {
      EXPECT_TRUE(r->Write("data: " + std::to_string(i) + "\n\n"));
      absl::SleepFor(absl::Milliseconds(1));
    }
    r->End();
    EXPECT_FALSE(r->Write("late"));  // the stream is over
  });
  absl::StatusOr<http_test::HttpReply> reply = client.Get("/stream");
  producer.join();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->content_type, kEventStreamType);
  std::string expected;
  for (int i = 0; i < 50; ++i) expected += "data: " + std::to_string(i) + "\n\n";
  EXPECT_EQ(reply->body, expected);
  // Chunked framing ends cleanly: the same connection serves the next request.
  absl::StatusOr<http_test::HttpReply> next = client.Get("/plain");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->body, "plain\n");
  EXPECT_EQ(client.connections(), 1);
}

TEST(HttpServerStreamTest, AClientThatClosesMidStreamIsReportedAtOnce) {
  Parked parked;
  HttpServer server(ParkingRouter(parked), {});
  ASSERT_TRUE(server.Start(kHost, 0).ok());
  absl::Notification gone;
  std::shared_ptr<HttpResponder> r;  // kept: dropping it mid-stream would end the stream itself
  {
    RawConnection raw(server.port());
    ASSERT_TRUE(raw.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = parked.Wait();
    r->OnClientGone([&gone] { gone.Notify(); });
    r->BeginStream(200, kEventStreamType, {});
    EXPECT_TRUE(r->Write("data: 1\n\n"));
    // Let the server's writes finish, so that no failing write can tell it the client left:
    // only its pending read can.
    absl::SleepFor(absl::Milliseconds(300));
  }
  EXPECT_TRUE(gone.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST(HttpServerStreamTest, AClientGoneBeforeTheHandlerAnswersIsReported) {
  Parked parked;
  HttpServer server(ParkingRouter(parked), {});
  ASSERT_TRUE(server.Start(kHost, 0).ok());
  std::shared_ptr<HttpResponder> r;
  {
    RawConnection raw(server.port());
    ASSERT_TRUE(raw.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = parked.Wait();
  }
  absl::Notification gone;
  r->OnClientGone([&gone] { gone.Notify(); });
  EXPECT_TRUE(gone.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST(HttpServerStreamTest, ASlowReaderIsCutOffAtTheBufferBoundAndTheProducerTold) {
  Parked parked;
  HttpServerOptions options;
  options.stream_buffer_bytes = 64 << 10;
  options.header_timeout = absl::Seconds(30);  // the bound, not the write timeout, must act
  HttpServer server(ParkingRouter(parked), options);
  ASSERT_TRUE(server.Start(kHost, 0).ok());
  RawConnection raw(server.port());  // sends a request and never reads
  ASSERT_TRUE(raw.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::shared_ptr<HttpResponder> r = parked.Wait();
  absl::Notification gone;
  r->OnClientGone([&gone] { gone.Notify(); });
  r->BeginStream(200, kEventStreamType, {});
  const std::string piece(4096, 'x');
  int64_t accepted = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  // 256 MiB would be accepted whole without a bound; the kernel's socket buffers take a few MiB.
  while (accepted < (int64_t{256} << 20) && absl::Now() < give_up) {
    if (!r->Write(piece)) break;
    accepted += static_cast<int64_t>(piece.size());
  }
  EXPECT_LT(accepted, int64_t{64} << 20) << "the stream buffer grew without bound";
  EXPECT_TRUE(gone.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_FALSE(r->Write(piece));
  EXPECT_TRUE(raw.WaitForClose(absl::Seconds(5)));
}

TEST(HttpServerStreamTest, ADroppedResponderAnswers500) {
  Parked parked;
  HttpServer server(ParkingRouter(parked), {});
  ASSERT_TRUE(server.Start(kHost, 0).ok());
  absl::StatusOr<http_test::HttpReply> reply = HttpGet(server.port(), "/drop");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, 500);
}

TEST(HttpServerStreamTest, TwoHundredOpenStreamsNeedNoMoreThreads) {
  Parked parked;
  HttpServerOptions options;
  options.io_threads = 2;
  HttpServer server(ParkingRouter(parked), options);
  ASSERT_TRUE(server.Start(kHost, 0).ok());
  const int threads_before = NumThreads();
  std::vector<std::unique_ptr<RawConnection>> clients;
  std::vector<std::shared_ptr<HttpResponder>> streams;
  for (int i = 0; i < 200; ++i) {
    clients.push_back(std::make_unique<RawConnection>(server.port()));
    ASSERT_TRUE(clients.back()->Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    streams.push_back(parked.Wait());
    streams.back()->BeginStream(200, kEventStreamType, {});
    streams.back()->Write("data: open\n\n");
  }
  EXPECT_EQ(server.num_connections(), 200);
  EXPECT_EQ(NumThreads(), threads_before);
  // The server still answers others promptly.
  absl::StatusOr<http_test::HttpReply> reply = HttpGet(server.port(), "/plain");
  ASSERT_TRUE(reply.ok()) << reply.status();
  for (auto& s : streams) s->End();
}

// One GET over TLS, trusting any certificate (the test's own).
absl::StatusOr<std::string> TlsGet(int port, const std::string& target) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  beast::get_lowest_layer(stream).connect(
      asio::ip::tcp::endpoint(asio::ip::make_address(kHost), static_cast<uint16_t>(port)), ec);
  if (ec) return absl::UnavailableError(ec.message());
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return absl::UnavailableError("handshake: " + ec.message());
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "localhost");
  http::write(stream, req, ec);
  if (ec) return absl::UnavailableError(ec.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res, ec);
  if (ec) return absl::UnavailableError(ec.message());
  return std::to_string(res.result_int()) + " " + res.body();
}

TEST(HttpServerStreamTest, TlsServesWholeAndStreamedAnswersAndRefusesPlainHttp) {
  const std::string dir = tessera::testing::TestDir("http_server_stream_test", "tls");
  const tessera::testing::Pem pem = tessera::testing::MakeSelfSignedPair();
  tessera::testing::WriteFile(dir + "/cert.pem", pem.cert);
  tessera::testing::WriteFile(dir + "/key.pem", pem.key);
  Parked parked;
  HttpServerOptions options;
  options.tls_cert_file = dir + "/cert.pem";
  options.tls_key_file = dir + "/key.pem";
  HttpServer server(ParkingRouter(parked), options);
  ASSERT_TRUE(server.Start(kHost, 0).ok());
  EXPECT_TRUE(server.tls());
  absl::StatusOr<std::string> plain = TlsGet(server.port(), "/plain");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, "200 plain\n");
  std::thread producer([&parked] {
    std::shared_ptr<HttpResponder> r = parked.Wait();
    r->BeginStream(200, kEventStreamType, {});
    r->Write("data: a\n\n");
    r->Write("data: [DONE]\n\n");
    r->End();
  });
  absl::StatusOr<std::string> streamed = TlsGet(server.port(), "/stream");
  producer.join();
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_EQ(*streamed, "200 data: a\n\ndata: [DONE]\n\n");
  // Plain HTTP on the TLS port gets no HTTP answer.
  absl::StatusOr<http_test::HttpReply> cleartext = HttpGet(server.port(), "/plain");
  EXPECT_FALSE(cleartext.ok() && cleartext->status == 200);
}

TEST(HttpServerStreamTest, BadTlsFilesAreNamed) {
  HttpServerOptions options;
  options.tls_cert_file = "/nonexistent/cert.pem";
  options.tls_key_file = "/nonexistent/key.pem";
  HttpServer server(HttpRouter(), options);
  const absl::Status s = server.Start(kHost, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("/nonexistent/cert.pem"));
  HttpServerOptions half;
  half.tls_cert_file = "cert.pem";
  HttpServer half_server(HttpRouter(), half);
  EXPECT_THAT(std::string(half_server.Start(kHost, 0).message()), HasSubstr("both"));
}

}  // namespace
}  // namespace tessera
