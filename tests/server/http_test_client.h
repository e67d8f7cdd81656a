// A blocking HTTP/1.1 client for tests of the daemon's HTTP port (Boost.Beast), and raw sockets
// that behave as slow or idle clients do. Every call has a deadline so that a server that never
// answers fails the test instead of hanging it. Not thread-safe per object; use one per thread.
#ifndef TESSERA_TESTS_SERVER_HTTP_TEST_CLIENT_H_
#define TESSERA_TESTS_SERVER_HTTP_TEST_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tessera::http_test {

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
  bool keep_alive = false;  // the server left the connection open
};

// One connection to 127.0.0.1:port; requests on it reuse the connection (keep-alive) while the
// server keeps it open. Errors (refused, closed, deadline passed) are statuses, never throws.
class HttpTestClient {
 public:
  explicit HttpTestClient(int port, absl::Duration deadline = absl::Seconds(5));
  ~HttpTestClient();
  HttpTestClient(const HttpTestClient&) = delete;
  HttpTestClient& operator=(const HttpTestClient&) = delete;

  absl::StatusOr<HttpReply> Request(const std::string& method, const std::string& target);
  // With an `Authorization: Bearer <api_key>` header (none when empty) and a JSON body (none when
  // empty).
  absl::StatusOr<HttpReply> Request(const std::string& method, const std::string& target,
                                    const std::string& api_key, const std::string& json_body);
  absl::StatusOr<HttpReply> Get(const std::string& target) { return Request("GET", target); }
  // Connections opened so far (1 while keep-alive holds).
  int connections() const { return connections_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  int port_;
  absl::Duration deadline_;
  int connections_ = 0;
};

// One GET on a fresh connection.
absl::StatusOr<HttpReply> HttpGet(int port, const std::string& target,
                                  absl::Duration deadline = absl::Seconds(5));

// A plain TCP connection to 127.0.0.1:port that sends what it is told, when told: an idle client
// or one that trickles a request a byte at a time. Closes on destruction.
class RawConnection {
 public:
  explicit RawConnection(int port);  // connected() says whether connect succeeded
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Sends the bytes; false when the peer has closed or reset the connection.
  bool Send(const std::string& bytes);
  // Waits up to `timeout` for the peer to close; true if it closed (EOF or reset). Bytes it sent
  // before closing are appended to *received when given.
  bool WaitForClose(absl::Duration timeout, std::string* received = nullptr);

 private:
  int fd_ = -1;
};

}  // namespace tessera::http_test

#endif  // TESSERA_TESTS_SERVER_HTTP_TEST_CLIENT_H_
