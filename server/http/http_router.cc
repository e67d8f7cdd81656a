#include "server/http/http_router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"

namespace tessera {

absl::string_view HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

bool HttpRequest::HasHeader(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return true;
  }
  return false;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse r = Text(status, std::move(body));
  r.content_type = kJsonType;
  return r;
}

void HttpRouter::Add(const std::string& method, const std::string& path, HttpHandler handler) {
  AddAsync(method, path,
           [handler = std::move(handler)](const HttpRequest& request,
                                          std::shared_ptr<HttpResponder> responder) {
             responder->Respond(handler(request));
           });
}

void HttpRouter::AddAsync(const std::string& method, const std::string& path,
                          HttpAsyncHandler handler) {
  routes_[path][method] = std::move(handler);
}

void HttpRouter::Handle(const HttpRequest& request,
                        std::shared_ptr<HttpResponder> responder) const {
  const auto path = routes_.find(request.path);
  if (path == routes_.end()) return responder->Respond(HttpResponse::Text(404, "not found\n"));
  const auto handler = path->second.find(request.method);
  if (handler == path->second.end()) {
    HttpResponse r = HttpResponse::Text(405, "method not allowed\n");
    std::vector<std::string> allowed;
    for (const auto& [method, unused] : path->second) allowed.push_back(method);
    r.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
    return responder->Respond(std::move(r));
  }
  handler->second(request, std::move(responder));
}

}  // namespace tessera
