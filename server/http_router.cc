#include "server/http_router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"

namespace tessera {

absl::string_view HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

void HttpRouter::Add(const std::string& method, const std::string& path, HttpHandler handler) {
  routes_[path][method] = std::move(handler);
}

HttpResponse HttpRouter::Handle(const HttpRequest& request) const {
  const auto path = routes_.find(request.path);
  if (path == routes_.end()) return HttpResponse::Text(404, "not found\n");
  const auto handler = path->second.find(request.method);
  if (handler == path->second.end()) {
    HttpResponse r = HttpResponse::Text(405, "method not allowed\n");
    std::vector<std::string> allowed;
    for (const auto& [method, unused] : path->second) allowed.push_back(method);
    r.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
    return r;
  }
  return handler->second(request);
}

}  // namespace tessera
