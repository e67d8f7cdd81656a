#include "server/http/http_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/http/http_connection.h"

namespace tessera {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using http_internal::Connection;
using http_internal::Shared;

namespace {

// What a connection over the cap gets before it is closed; written in one send, best effort.
constexpr char kTooManyConnections[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 21\r\n"
    "Connection: close\r\n"
    "\r\n"
    "too many connections\n";

std::string HostPort(const std::string& host, int port) {
  // An IPv6 literal needs brackets to be read back.
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

// The port's TLS context from PEM files; errors name the file.
absl::StatusOr<std::unique_ptr<ssl::context>> LoadTls(const HttpServerOptions& o) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  beast::error_code ec;
  context->use_certificate_chain_file(o.tls_cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP TLS certificate ", o.tls_cert_file, ": cannot be used: ", ec.message()));
  }
  context->use_private_key_file(o.tls_key_file, ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP TLS key ", o.tls_key_file, ": cannot be used: ", ec.message()));
  }
  return context;
}

}  // namespace

absl::Status ValidateHttpServerOptions(const HttpServerOptions& o) {
  if (o.io_threads < 1 || o.io_threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP io_threads must be in [1, 256], got ", o.io_threads));
  }
  if (o.max_connections < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP max_connections must be at least 1, got ", o.max_connections));
  }
  if (o.header_timeout <= absl::ZeroDuration() || o.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP header and idle timeouts must be positive, got ",
        absl::FormatDuration(o.header_timeout), " and ", absl::FormatDuration(o.idle_timeout)));
  }
  if (o.max_header_bytes < 1024 || o.max_header_bytes > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP max_header_bytes must be in [1024, 2^30], got ", o.max_header_bytes));
  }
  if (o.stream_buffer_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP stream_buffer_bytes must be at least 1024, got ", o.stream_buffer_bytes));
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "HTTP TLS needs both a certificate and a key file, or neither");
  }
  if (o.max_body_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP max_body_bytes must not be negative, got ", o.max_body_bytes));
  }
  return absl::OkStatus();
}

struct HttpServer::State {
  Shared shared;  // declared first: outlives the io_context and its connections
  std::optional<asio::io_context> io;  // reset by Stop: destroys what waits on it
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> retry;  // after a failed accept (out of descriptors)
  std::unique_ptr<ssl::context> tls;        // null: plain HTTP
  std::vector<std::thread> threads;
  bool started = false;

  void Accept() {
    acceptor->async_accept(asio::make_strand(*io), [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors, most likely: wait a moment instead of spinning on the error.
        retry->expires_after(std::chrono::milliseconds(50));
        retry->async_wait([this](beast::error_code ec) {
          if (!ec) Accept();
        });
        return;
      }
      if (shared.num_connections.load() >= shared.options.max_connections) {
        Refuse(std::move(s));
      } else {
        if (tls != nullptr) {
          using TlsStream = beast::ssl_stream<beast::tcp_stream>;
          std::make_shared<Connection<TlsStream>>(TlsStream(std::move(s), *tls), shared)->Start();
        } else {
          std::make_shared<Connection<beast::tcp_stream>>(beast::tcp_stream(std::move(s)), shared)
              ->Start();
        }
      }
      Accept();
    });
  }

  static void Refuse(tcp::socket s) {
    beast::error_code ignored;
    s.non_blocking(true, ignored);
    s.write_some(asio::buffer(kTooManyConnections, sizeof(kTooManyConnections) - 1), ignored);
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
  }

  absl::Status Bind(const std::string& host, int port) {
    beast::error_code ec;
    tcp::resolver resolver(*io);
    const auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", HostPort(host, port),
                                                 ": the host does not resolve (", ec.message(),
                                                 ")"));
    }
    for (const auto& entry : endpoints) {
      tcp::acceptor a(*io);
      a.open(entry.endpoint().protocol(), ec);
      // SO_REUSEADDR allows a restart while old connections linger; no SO_REUSEPORT, which
      // would let a second daemon share the port silently.
      if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) a.bind(entry.endpoint(), ec);
      if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
      if (!ec) {
        acceptor.emplace(std::move(a));
        return absl::OkStatus();
      }
    }
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", HostPort(host, port), ": ", ec.message()));
  }
};

HttpServer::HttpServer(HttpRouter router, HttpServerOptions options)
    : state_(std::make_unique<State>()) {
  state_->io.emplace();
  state_->shared.router = std::move(router);
  state_->shared.options = options;
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(const std::string& host, int port) {
  if (state_->started) return absl::FailedPreconditionError("the HTTP server was started already");
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP port ", port, " is out of range"));
  }
  if (absl::Status s = ValidateHttpServerOptions(state_->shared.options); !s.ok()) return s;
  if (!state_->shared.options.tls_cert_file.empty()) {
    absl::StatusOr<std::unique_ptr<ssl::context>> tls = LoadTls(state_->shared.options);
    if (!tls.ok()) return tls.status();
    state_->tls = *std::move(tls);
  }
  if (absl::Status s = state_->Bind(host, port); !s.ok()) return s;
  state_->started = true;
  port_ = state_->acceptor->local_endpoint().port();
  state_->retry.emplace(*state_->io);
  state_->Accept();
  for (int i = 0; i < state_->shared.options.io_threads; ++i) {
    state_->threads.emplace_back([this] { state_->io->run(); });
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  State& s = *state_;
  if (s.threads.empty()) return;
  {
    // No responder posts from here on: the io_context is about to go.
    absl::MutexLock lock(&s.shared.liveness->mu);
    s.shared.liveness->stopped = true;
  }
  s.io->stop();
  for (std::thread& t : s.threads) t.join();
  s.threads.clear();
  // Destroying the io_context destroys every handler that was waiting, and with the handlers
  // the connections they own: that closes them. The listener goes first, as it uses the context.
  s.retry.reset();
  s.acceptor.reset();
  s.io.reset();
}

int HttpServer::num_connections() const { return state_->shared.num_connections.load(); }

bool HttpServer::tls() const { return state_->tls != nullptr; }

}  // namespace tessera
