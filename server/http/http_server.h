// An HTTP/1.1 server (Boost.Beast on Boost.Asio, TLS through Asio's OpenSSL streams) that serves
// an HttpRouter and that slow, idle or numerous clients cannot block: every socket is
// asynchronous, so a connection that sends nothing, or waits for a generation, holds no thread;
// 1,000 open streams are served by io_threads threads. Bounds, per HttpServerOptions:
//   - a request header must arrive whole within header_timeout of the connection opening (or of
//     its first byte on a kept-alive connection); a body gets the same time again, and so does
//     the writing of a response. Past it the connection is closed.
//   - a kept-alive connection may idle idle_timeout between requests, then it is closed.
//   - beyond max_connections, a new connection is answered 503 and closed at once, not queued.
//   - headers over max_header_bytes get 431, bodies over max_body_bytes 413, garbage 400.
//   - a streamed response buffers at most stream_buffer_bytes that the client has not taken; a
//     client further behind is cut off and its handler told (HttpResponder in http_router.h).
// Handlers run on the io_threads, each connection's one at a time; a slow handler holds one IO
// thread, so long work answers later through its responder (AddAsync) instead of blocking. A
// client that closes its connection while its request is answered is noticed at once (the
// responder's OnClientGone). The threads are plain std::threads
// with the default stack size: small stacks cannot start in a process that links cuBLAS
// (shared/docs/GPU.md).
//
// Start and Stop are for the owning thread. Stop closes every connection and joins the threads
// (a handler that is running finishes first); it is idempotent and the destructor calls it. One
// Start per object. A responder used after Stop does nothing (Write returns whether it queued,
// not whether it was sent); OnClientGone callbacks of exchanges open at Stop do not run, so stop
// the producers (the scheduler) first.
#ifndef TESSERA_SERVER_HTTP_HTTP_SERVER_H_
#define TESSERA_SERVER_HTTP_HTTP_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/http/http_router.h"

namespace tessera {

struct HttpServerOptions {
  int io_threads = 4;
  int max_connections = 4096;  // open at once, idle ones included
  absl::Duration header_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(30);  // keep-alive, between requests
  int64_t max_header_bytes = 16 << 10;
  int64_t max_body_bytes = 1 << 20;
  int64_t stream_buffer_bytes = 1 << 20;  // per streamed response, not yet taken by the client
  // Both or neither: PEM certificate chain and private key; then the port speaks only TLS.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// InvalidArgument naming the field that is out of range.
absl::Status ValidateHttpServerOptions(const HttpServerOptions& options);

class HttpServer {
 public:
  HttpServer(HttpRouter router, HttpServerOptions options);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port, see port()) and serves on new threads. Bad options,
  // unreadable TLS files, a host that does not resolve or a port in use are errors naming what
  // is wrong.
  absl::Status Start(const std::string& host, int port);
  void Stop();

  // The bound port once Start succeeded, else 0.
  int port() const { return port_; }
  // Connections open now (refused ones never count).
  int num_connections() const;
  bool tls() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  int port_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_SERVER_HTTP_HTTP_SERVER_H_
