#include "server/http_endpoint.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "httplib.h"

namespace tessera {
namespace {

constexpr char kPrometheusTextType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kPlainTextType[] = "text/plain; charset=utf-8";

std::string HostPort(const std::string& host, int port) {
  // An IPv6 literal needs brackets to be read back.
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

// Why a bind failed, where errno says so; httplib reports only that it did.
std::string BindFailureReason(int err) {
  switch (err) {
    case EADDRINUSE:
    case EADDRNOTAVAIL:
    case EACCES:
      return std::strerror(err);
    default:
      return "the host does not resolve or the address cannot be bound";
  }
}

}  // namespace

HttpEndpoint::HttpEndpoint(Options options)
    : options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  const int threads = options_.num_threads > 0 ? options_.num_threads : 1;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib's default also sets SO_REUSEPORT, which would let a second daemon share the port
  // silently; SO_REUSEADDR alone still allows a restart while old connections linger.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Stop waits for idle keep-alive connections until this timeout; scrapes come seconds apart.
  server_->set_keep_alive_timeout(1);

  if (options_.metrics) {
    server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(options_.metrics(), kPrometheusTextType);
    });
  }
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", kPlainTextType);
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const absl::Status ready = options_.readiness ? options_.readiness() : absl::OkStatus();
    if (ready.ok()) {
      res.set_content("ready\n", kPlainTextType);
    } else {
      res.status = 503;
      res.set_content(absl::StrCat("not ready: ", ready.message(), "\n"), kPlainTextType);
    }
  });
}

HttpEndpoint::~HttpEndpoint() { Stop(); }

absl::Status HttpEndpoint::Start(const std::string& host, int port) {
  if (port_ != 0 || listener_.joinable()) {
    return absl::FailedPreconditionError("the HTTP endpoint was started already");
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP port ", port, " is out of range"));
  }
  errno = 0;
  const int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", HostPort(host, port), ": ",
                                               BindFailureReason(errno)));
  }
  port_ = bound;
  listener_ = std::thread([this] {
    server_->listen_after_bind();
    listener_done_.Notify();
  });
  return absl::OkStatus();
}

void HttpEndpoint::Stop() {
  if (!listener_.joinable()) return;
  // httplib's stop() does nothing until the listener loop has begun: repeat until it has ended.
  do {
    server_->stop();
  } while (!listener_done_.WaitForNotificationWithTimeout(absl::Milliseconds(10)));
  listener_.join();
}

}  // namespace tessera
