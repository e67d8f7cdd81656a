// One client connection of HttpServer (internal to server/http/), over plain TCP or TLS: read a
// request under the deadlines, hand it to the router with a responder, write the answer whole or
// as chunks, and again while the client keeps the connection alive. Everything runs on the
// connection's strand; responders reach it by posting there.
//
// While a handler has not answered yet, or streams, one read stays pending on the socket so that
// a client that closes is noticed at once (HttpResponder::OnClientGone); bytes it brings (a
// pipelined request) are kept for later, and the watch then stops. Writes are bounded by the
// header timeout each; a reader slower than that is cut off.
//
// Lifetime: pending operations hold the connection; so does the connection itself while an
// exchange is open (self_), so that a responder can hold it weakly and a dropped responder never
// keeps a socket alive past the server's Stop.
#ifndef TESSERA_SERVER_HTTP_HTTP_CONNECTION_H_
#define TESSERA_SERVER_HTTP_HTTP_CONNECTION_H_

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/http_exchange.h"
#include "server/http/http_router.h"
#include "server/http/http_server.h"

namespace tessera::http_internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

inline std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

// Whether the server still runs; posts to a strand are made under mu so none lands after Stop.
struct Liveness {
  absl::Mutex mu;
  bool stopped ABSL_GUARDED_BY(mu) = false;
};

// What the server shares with its connections. Outlives every connection's use of it: Stop
// destroys the io_context (and with it the connections) before this goes.
struct Shared {
  HttpRouter router;
  HttpServerOptions options;
  std::atomic<int> num_connections{0};
  std::shared_ptr<Liveness> liveness = std::make_shared<Liveness>();
};

// Posts `fn` to `executor` unless the server stopped. False when it did not post.
template <class Executor, class Fn>
bool PostIfLive(Liveness& live, const Executor& executor, Fn&& fn) {
  absl::MutexLock lock(&live.mu);
  if (live.stopped) return false;
  asio::post(executor, std::forward<Fn>(fn));
  return true;
}

template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(Stream stream, Shared& shared) : stream_(std::move(stream)), shared_(shared) {
    shared_.num_connections.fetch_add(1);
  }
  ~Connection() { shared_.num_connections.fetch_sub(1); }

  Stream& stream() { return stream_; }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  // A TLS connection shakes hands first, within the header timeout.
  void Start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      Run();
    } else {
      lowest().expires_after(ToChrono(shared_.options.header_timeout));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->Run();
                              });
    }
  }

  // The strand side of a responder's pokes.
  void Poke() {
    if (closed_ || exchange_ == nullptr || writing_) return;
    switch (exchange_->answer()) {
      case HttpExchange::Answer::kNone:
        return;
      case HttpExchange::Answer::kWhole:
        if (std::optional<HttpResponse> r = exchange_->TakeWhole()) WriteWhole(*std::move(r));
        return;
      case HttpExchange::Answer::kStream:
        if (std::optional<HttpExchange::Head> h = exchange_->TakeHead()) {
          return WriteHead(*std::move(h));
        }
        return Flush();
    }
  }
  // The client of `exchange` is to be cut off (it fell behind, or the responder was dropped
  // mid-stream); a later exchange on the connection is not this one's to end.
  void Abort(const HttpExchange* exchange) {
    if (exchange_.get() == exchange) Gone();
  }

 private:
  class Responder;

  void Run() {
    lowest().expires_after(ToChrono(shared_.options.header_timeout));
    ReadHeader();
  }

  // A kept-alive connection waits up to the idle timeout for the next request's first bytes;
  // from there its header has the header timeout.
  void AwaitNextRequest() {
    if (buffer_.size() > 0) return Run();  // pipelined: the request has begun already
    lowest().expires_after(ToChrono(shared_.options.idle_timeout));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
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
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Dispatch();
    lowest().expires_after(ToChrono(shared_.options.header_timeout));
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->Dispatch();
                     });
  }

  void OnReadError(beast::error_code ec) {
    keep_alive_ = false;
    head_request_ = false;
    if (ec == http::error::header_limit) {
      return WriteWhole(HttpResponse::Text(431, "request header too large\n"));
    }
    if (ec == http::error::body_limit) {
      return WriteWhole(HttpResponse::Text(413, "request body too large\n"));
    }
    // Anything but a parse error (a timeout, a closed or reset connection): nobody to answer.
    const bool parse_error =
        ec.category() == beast::error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (!parse_error) return Close();
    WriteWhole(HttpResponse::Text(400, "bad request\n"));
  }

  void Dispatch() {
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
    keep_alive_ = req.keep_alive();
    head_request_ = req.method() == http::verb::head;
    exchange_ = std::make_shared<HttpExchange>(shared_.options.stream_buffer_bytes);
    self_ = this->shared_from_this();
    shared_.router.Handle(request, std::make_shared<Responder>(self_, exchange_, shared_));
    // Plain handlers have answered (by a post); the others may take long: notice a client that
    // closes meanwhile.
    if (exchange_ != nullptr && exchange_->answer() == HttpExchange::Answer::kNone) Watch();
  }

  void Watch() {
    if (watching_ || closed_) return;
    watching_ = true;
    lowest().expires_never();
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->OnWatch(ec, n);
                            });
  }

  void OnWatch(beast::error_code ec, size_t n) {
    watching_ = false;
    buffer_.commit(n);
    if (resume_after_watch_) {
      resume_after_watch_ = false;
      if (!closed_) AwaitNextRequest();
      return;
    }
    if (ec) return Gone();  // closed, reset: the client is gone
    // A pipelined request's bytes: kept for later; the watch ends here (bounded buffer).
  }

  void WriteWhole(HttpResponse response) {
    if (closed_) return;
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), 11);
    res->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res->set(name, value);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    if (head_request_) res->body().clear();  // Content-Length stays that of the body not sent
    writing_ = true;
    // A client that does not take its response is cut off like one that does not send.
    lowest().expires_after(ToChrono(shared_.options.header_timeout));
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        if (ec) return self->Gone();
                        self->FinishExchange();
                      });
  }

  void WriteHead(HttpExchange::Head head) {
    auto res = std::make_shared<http::response<http::empty_body>>(
        static_cast<http::status>(head.status), 11);
    res->set(http::field::content_type, head.content_type);
    for (const auto& [name, value] : head.headers) res->set(name, value);
    res->keep_alive(keep_alive_);
    res->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    writing_ = true;
    lowest().expires_after(ToChrono(shared_.options.header_timeout));
    http::async_write_header(
        stream_, *serializer,
        [self = this->shared_from_this(), res, serializer](beast::error_code ec, size_t) {
          self->writing_ = false;
          if (ec) return self->Gone();
          self->Flush();
        });
    Watch();
  }

  void Flush() {
    if (closed_ || writing_ || exchange_ == nullptr) return;
    bool ended = false;
    std::string body = exchange_->TakeBody(&ended);
    if (body.empty() && !ended) return;
    writing_ = true;
    lowest().expires_after(ToChrono(shared_.options.header_timeout));
    if (!body.empty()) {
      chunk_ = std::move(body);
      asio::async_write(stream_, http::make_chunk(asio::buffer(chunk_)),
                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                          self->writing_ = false;
                          if (ec) return self->Gone();
                          self->Flush();
                        });
      return;
    }
    asio::async_write(stream_, http::make_chunk_last(),
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        if (ec) return self->Gone();
                        self->FinishExchange();
                      });
  }

  void FinishExchange() {
    if (exchange_ != nullptr) exchange_->MarkComplete();  // none for the server's own errors
    exchange_.reset();
    chunk_.clear();
    chunk_.shrink_to_fit();
    self_.reset();  // handlers in flight hold the connection from here
    if (!keep_alive_) return Close();
    if (watching_) {
      // The watch read must end before the next request's read begins.
      resume_after_watch_ = true;
      lowest().socket().cancel();
      return;
    }
    AwaitNextRequest();
  }

  void Gone() {
    if (exchange_ != nullptr) {
      std::shared_ptr<HttpExchange> exchange = std::move(exchange_);
      exchange->MarkGone();
    }
    Close();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    self_.reset();
    beast::error_code ignored;
    lowest().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    lowest().close();  // and its timers; pending operations end with errors
  }

  Stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpExchange> exchange_;  // the request being answered, if any
  std::shared_ptr<Connection> self_;        // while an exchange is open
  std::string chunk_;                       // the body chunk being written
  bool keep_alive_ = false;
  bool head_request_ = false;
  bool writing_ = false;
  bool watching_ = false;
  bool resume_after_watch_ = false;
  bool closed_ = false;
};

// The handler's handle on one exchange. Holds the connection weakly: the connection holds itself
// while the exchange is open, and a responder kept past the end of the exchange (or of the
// server) must not keep a socket.
template <class Stream>
class Connection<Stream>::Responder final : public HttpResponder {
 public:
  Responder(const std::shared_ptr<Connection>& connection, std::shared_ptr<HttpExchange> exchange,
            Shared& shared)
      : connection_(connection),
        executor_(connection->lowest().get_executor()),
        exchange_(std::move(exchange)),
        liveness_(shared.liveness) {}

  ~Responder() override {
    switch (exchange_->answer()) {
      case HttpExchange::Answer::kNone:
        Respond(HttpResponse::Text(500, "the handler gave no response\n"));
        return;
      case HttpExchange::Answer::kStream:
        if (!exchange_->ended()) PostAbort();  // an unfinished body must not look complete
        return;
      case HttpExchange::Answer::kWhole:
        return;
    }
  }

  void Respond(HttpResponse response) override {
    if (exchange_->SetWhole(std::move(response))) PostPoke();
  }
  void BeginStream(int status, std::string content_type, HttpHeaders headers) override {
    if (exchange_->SetStream({status, std::move(content_type), std::move(headers)})) PostPoke();
  }
  bool Write(absl::string_view data) override {
    switch (exchange_->Write(data)) {
      case HttpExchange::WriteResult::kQueued:
        PostPoke();
        return true;
      case HttpExchange::WriteResult::kBuffered:
        return true;
      case HttpExchange::WriteResult::kOver:
        return false;
      case HttpExchange::WriteResult::kOverflow:
        PostAbort();
        return false;
    }
    return false;
  }
  void End() override {
    if (exchange_->End()) PostPoke();
  }
  void OnClientGone(std::function<void()> callback) override {
    exchange_->OnGone(std::move(callback));
  }

 private:
  void PostPoke() {
    PostIfLive(*liveness_, executor_, [weak = connection_] {
      if (auto c = weak.lock()) c->Poke();
    });
  }
  void PostAbort() {
    PostIfLive(*liveness_, executor_, [weak = connection_, exchange = exchange_] {
      if (auto c = weak.lock()) c->Abort(exchange.get());
    });
  }

  std::weak_ptr<Connection> connection_;
  asio::any_io_executor executor_;
  std::shared_ptr<HttpExchange> exchange_;
  std::shared_ptr<Liveness> liveness_;
};

}  // namespace tessera::http_internal

#endif  // TESSERA_SERVER_HTTP_HTTP_CONNECTION_H_
