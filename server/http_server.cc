#include "server/http_server.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tessera {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

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

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

// What the server shares with its connections. Outlives every connection: Stop destroys the
// io_context (and with it the connections) before this goes.
struct Shared {
  HttpRouter router;
  HttpServerOptions options;
  std::atomic<int> num_connections{0};
};

// One client connection: read a request under the deadlines, answer it, and again while the
// client keeps the connection alive. All of it runs on the connection's strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) {
    shared_.num_connections.fetch_add(1);
  }
  ~Connection() { shared_.num_connections.fetch_sub(1); }

  void Run() {
    stream_.expires_after(ToChrono(shared_.options.header_timeout));
    ReadHeader();
  }

 private:
  // A kept-alive connection waits up to the idle timeout for the next request's first bytes;
  // from there its header has the header timeout.
  void AwaitNextRequest() {
    if (buffer_.size() > 0) return Run();  // pipelined: the request has begun already
    stream_.expires_after(ToChrono(shared_.options.idle_timeout));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->Run();
                            });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_.options.max_header_bytes));
    parser_->body_limit(static_cast<uint64_t>(shared_.options.max_body_bytes));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Respond();
    stream_.expires_after(ToChrono(shared_.options.header_timeout));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->Respond();
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return Write(HttpResponse::Text(431, "request header too large\n"), /*keep_alive=*/false);
    }
    if (ec == http::error::body_limit) {
      return Write(HttpResponse::Text(413, "request body too large\n"), /*keep_alive=*/false);
    }
    // Anything but a parse error (a timeout, a closed or reset connection): nobody to answer.
    const bool parse_error =
        ec.category() == beast::error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (!parse_error) return Close();
    Write(HttpResponse::Text(400, "bad request\n"), /*keep_alive=*/false);
  }

  void Respond() {
    http::request<http::string_body> req = parser_->release();
    HttpRequest request;
    request.method = std::string(req.method_string());
    const beast::string_view target = req.target();
    const size_t q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != beast::string_view::npos) request.query = std::string(target.substr(q + 1));
    for (const auto& field : req) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(req.body());
    Write(shared_.router.Handle(request), req.keep_alive(), req.method() == http::verb::head);
  }

  void Write(HttpResponse response, bool keep_alive, bool head = false) {
    response_.emplace(static_cast<http::status>(response.status), 11);
    response_->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) response_->set(name, value);
    response_->body() = std::move(response.body);
    response_->keep_alive(keep_alive);
    response_->prepare_payload();
    if (head) response_->body().clear();  // Content-Length stays that of the body not sent
    // A client that does not take its response is cut off like one that does not send.
    stream_.expires_after(ToChrono(shared_.options.header_timeout));
    http::async_write(stream_, *response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec || !self->response_->keep_alive()) return self->Close();
                        self->response_.reset();
                        self->AwaitNextRequest();
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();  // and its timer
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
};

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
        std::make_shared<Connection>(std::move(s), shared)->Run();
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

}  // namespace tessera
