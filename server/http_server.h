// An HTTP/1.1 server (Boost.Beast on Boost.Asio) that serves an HttpRouter and that slow, idle or
// numerous clients cannot block: every socket is asynchronous, so a connection that sends nothing
// holds no thread. Bounds, per HttpServerOptions:
//   - a request header must arrive whole within header_timeout of the connection opening (or of
//     its first byte on a kept-alive connection); a body gets the same time again, and so does
//     the writing of a response. Past it the connection is closed.
//   - a kept-alive connection may idle idle_timeout between requests, then it is closed.
//   - beyond max_connections, a new connection is answered 503 and closed at once, not queued.
//   - headers over max_header_bytes get 431, bodies over max_body_bytes 413, garbage 400.
// Handlers run on the io_threads, each connection's one at a time; a slow handler holds one IO
// thread, so keep handlers short (the others keep serving). The threads are plain std::threads
// with the default stack size: small stacks cannot start in a process that links cuBLAS
// (shared/docs/GPU.md).
//
// Start and Stop are for the owning thread. Stop closes every connection and joins the threads
// (a handler that is running finishes first); it is idempotent and the destructor calls it. One
// Start per object.
#ifndef TESSERA_SERVER_HTTP_SERVER_H_
#define TESSERA_SERVER_HTTP_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/http_router.h"

namespace tessera {

struct HttpServerOptions {
  int io_threads = 4;
  int max_connections = 512;  // open at once, idle ones included
  absl::Duration header_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(30);  // keep-alive, between requests
  int64_t max_header_bytes = 16 << 10;
  int64_t max_body_bytes = 1 << 20;
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
  // a host that does not resolve or a port in use are errors naming what is wrong.
  absl::Status Start(const std::string& host, int port);
  void Stop();

  // The bound port once Start succeeded, else 0.
  int port() const { return port_; }
  // Connections open now (refused ones never count).
  int num_connections() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  int port_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_SERVER_HTTP_SERVER_H_
