#include "tests/server/http_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tessera::http_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Beast's blocking calls ignore the stream's expiry, so each call runs the asynchronous ones to
// completion on a private io_context: the deadline then closes the socket and fails the call.
struct HttpTestClient::State {
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  beast::error_code Run(absl::Duration deadline, auto start) {
    beast::error_code result = asio::error::would_block;
    stream->expires_after(absl::ToChronoMilliseconds(deadline));
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }
};

HttpTestClient::HttpTestClient(int port, absl::Duration deadline)
    : state_(std::make_unique<State>()), port_(port), deadline_(deadline) {}

HttpTestClient::~HttpTestClient() = default;

absl::StatusOr<HttpReply> HttpTestClient::Request(const std::string& method,
                                                  const std::string& target) {
  return Request(method, target, "", "");
}

absl::StatusOr<HttpReply> HttpTestClient::Request(const std::string& method,
                                                  const std::string& target,
                                                  const std::string& api_key,
                                                  const std::string& json_body) {
  State& s = *state_;
  if (!s.stream) {
    s.stream.emplace(s.io);
    s.buffer.clear();
    const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_));
    if (beast::error_code ec =
            s.Run(deadline_, [&](auto done) { s.stream->async_connect(server, done); })) {
      s.stream.reset();
      return absl::UnavailableError(absl::StrCat("connect: ", ec.message()));
    }
    ++connections_;
  }
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  if (req.method() == http::verb::unknown) req.method_string(method);
  req.set(http::field::host, absl::StrCat("127.0.0.1:", port_));
  if (!api_key.empty()) req.set(http::field::authorization, absl::StrCat("Bearer ", api_key));
  if (!json_body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = json_body;
  }
  req.prepare_payload();
  req.keep_alive(true);
  http::response_parser<http::string_body> parser;
  parser.skip(req.method() == http::verb::head);  // the answer to HEAD has no body
  beast::error_code ec =
      s.Run(deadline_, [&](auto done) { http::async_write(*s.stream, req, done); });
  if (!ec) {
    ec = s.Run(deadline_, [&](auto done) { http::async_read(*s.stream, s.buffer, parser, done); });
  }
  if (ec) {
    s.stream.reset();
    return absl::UnavailableError(absl::StrCat(method, " ", target, ": ", ec.message()));
  }
  http::response<http::string_body> res = parser.release();
  HttpReply reply;
  reply.status = res.result_int();
  reply.content_type = std::string(res[http::field::content_type]);
  reply.body = std::move(res.body());
  reply.keep_alive = res.keep_alive();
  if (!reply.keep_alive) s.stream.reset();
  return reply;
}

absl::StatusOr<HttpReply> HttpGet(int port, const std::string& target, absl::Duration deadline) {
  HttpTestClient client(port, deadline);
  return client.Get(target);
}

RawConnection::RawConnection(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) close(fd_);
}

bool RawConnection::Send(const std::string& bytes) {
  size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return fd_ >= 0;
}

bool RawConnection::WaitForClose(absl::Duration timeout, std::string* received) {
  if (fd_ < 0) return true;
  const absl::Time end = absl::Now() + timeout;
  char buf[4096];
  for (;;) {
    // Polls once even when the time is up, so that a zero timeout asks "closed already?".
    const int64_t left_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(end - absl::Now()));
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left_ms));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;  // EOF, or reset
    if (received != nullptr) received->append(buf, static_cast<size_t>(n));
  }
}

}  // namespace tessera::http_test
