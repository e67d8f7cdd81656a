// Routes of the daemon's HTTP port: an exact (method, path) -> handler table. A handler takes the
// whole request (body read already) and returns the whole response; the server writes it.
//   unknown path                  404
//   known path, other method      405 with an Allow header naming the methods it has
// Add every route before the server starts; Handle is then safe from any number of threads at
// once (the handlers themselves must be thread-safe: the server calls them concurrently).
#ifndef TESSERA_SERVER_HTTP_ROUTER_H_
#define TESSERA_SERVER_HTTP_ROUTER_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tessera {

inline constexpr char kPlainTextType[] = "text/plain; charset=utf-8";

struct HttpRequest {
  std::string method;  // as sent: "GET", "POST", ...
  std::string path;    // the target up to '?'
  std::string query;   // after '?', undecoded; empty when none
  std::vector<std::pair<std::string, std::string>> headers;  // in the order sent
  std::string body;

  // The first header of that name (case-insensitive), or "" when absent.
  absl::string_view Header(absl::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = kPlainTextType;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond type, length, connection

  static HttpResponse Text(int status, std::string body);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpRouter {
 public:
  // Serves `method` on exactly `path` (no prefix match, no trailing-slash folding). Adding the
  // same pair again replaces its handler.
  void Add(const std::string& method, const std::string& path, HttpHandler handler);

  HttpResponse Handle(const HttpRequest& request) const;

 private:
  std::map<std::string, std::map<std::string, HttpHandler>> routes_;  // path -> method -> handler
};

}  // namespace tessera

#endif  // TESSERA_SERVER_HTTP_ROUTER_H_
