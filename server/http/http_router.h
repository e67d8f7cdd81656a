// Routes of the daemon's HTTP port: an exact (method, path) -> handler table.
//   unknown path                  404
//   known path, other method      405 with an Allow header naming the methods it has
// A plain handler takes the whole request (body read already) and returns the whole response. An
// async handler gets an HttpResponder instead and answers through it later, from any thread,
// whole or streamed: the IO thread is free as soon as the handler returns, which is how a
// generation that runs for minutes holds no thread.
// Add every route before the server starts; Handle is then safe from any number of threads at
// once (the handlers themselves must be thread-safe: the server calls them concurrently).
#ifndef TESSERA_SERVER_HTTP_HTTP_ROUTER_H_
#define TESSERA_SERVER_HTTP_HTTP_ROUTER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tessera {

inline constexpr char kPlainTextType[] = "text/plain; charset=utf-8";
inline constexpr char kJsonType[] = "application/json";
inline constexpr char kEventStreamType[] = "text/event-stream";

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;   // as sent: "GET", "POST", ...
  std::string path;     // the target up to '?'
  std::string query;    // after '?', undecoded; empty when none
  HttpHeaders headers;  // in the order sent
  std::string body;

  // The first header of that name (case-insensitive), or "" when absent.
  absl::string_view Header(absl::string_view name) const;
  bool HasHeader(absl::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = kPlainTextType;
  std::string body;
  HttpHeaders headers;  // beyond type, length, connection

  static HttpResponse Text(int status, std::string body);
  static HttpResponse Json(int status, std::string body);
};

// The answering side of one request. Exactly one of Respond or BeginStream counts; later calls
// are ignored. Thread-safe: any thread may call any method, in that order. A responder dropped
// without an answer answers 500, so a handler bug cannot leave a client waiting forever.
//
// Streams are buffered up to the server's stream_buffer_bytes: Write never blocks (the
// scheduler's thread calls it). A client that falls that far behind is cut off as if it had gone
// away: its connection is closed and OnClientGone's callback runs. Memory per stream is therefore
// bounded by about twice that bound (the buffer and the chunk being written).
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;

  // The whole response at once.
  virtual void Respond(HttpResponse response) = 0;
  // Status and headers now (Transfer-Encoding: chunked); the body follows through Write.
  virtual void BeginStream(int status, std::string content_type, HttpHeaders headers) = 0;
  // Queues body bytes; false once the stream is over (the client went away or fell more than the
  // buffer behind, or End was called): the producer should stop.
  virtual bool Write(absl::string_view data) = 0;
  // Ends the body; the connection stays open for the next request when the client keeps it.
  virtual void End() = 0;
  // `callback` runs once, on an IO thread, if the client goes away before the response has been
  // written whole (it closed the connection, a write failed or timed out, or it fell behind);
  // at once when that has happened already. Never runs after a complete response.
  virtual void OnClientGone(std::function<void()> callback) = 0;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
using HttpAsyncHandler =
    std::function<void(const HttpRequest&, std::shared_ptr<HttpResponder> responder)>;

class HttpRouter {
 public:
  // Serves `method` on exactly `path` (no prefix match, no trailing-slash folding). Adding the
  // same pair again replaces its handler.
  void Add(const std::string& method, const std::string& path, HttpHandler handler);
  void AddAsync(const std::string& method, const std::string& path, HttpAsyncHandler handler);

  // Answers through `responder`, at once for plain handlers and unknown routes.
  void Handle(const HttpRequest& request, std::shared_ptr<HttpResponder> responder) const;

 private:
  std::map<std::string, std::map<std::string, HttpAsyncHandler>> routes_;  // path -> method
};

}  // namespace tessera

#endif  // TESSERA_SERVER_HTTP_HTTP_ROUTER_H_
