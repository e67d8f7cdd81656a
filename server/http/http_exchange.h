// One request's answer as the HTTP server and a handler share it (internal to server/http/).
//
// The handler's side is an HttpResponder (http_router.h) that queues what it is given here and
// asks the connection, on its strand, to write it; the connection's side takes the queued bytes
// and reports the end of the exchange: written whole (Complete) or cut off (Gone). The stream
// buffer is bounded (see HttpResponder): Write past the bound marks the exchange gone.
//
// Thread-safe: the handler's threads and the connection's strand meet under mu_.
#ifndef TESSERA_SERVER_HTTP_HTTP_EXCHANGE_H_
#define TESSERA_SERVER_HTTP_HTTP_EXCHANGE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/http/http_router.h"

namespace tessera::http_internal {

class HttpExchange {
 public:
  // What the handler asked for, once.
  struct Head {
    int status = 200;
    std::string content_type;
    HttpHeaders headers;
  };
  enum class Answer { kNone, kWhole, kStream };

  explicit HttpExchange(int64_t buffer_bytes) : buffer_bytes_(buffer_bytes) {}

  // Handler side. Each returns whether the connection must be poked (a post to its strand).
  bool SetWhole(HttpResponse response);
  bool SetStream(Head head);
  // kQueued: poke the connection; kBuffered: it will look on its own; kOver: the stream is over
  // (false for the producer); kOverflow: this write went past the buffer: cut the client off.
  enum class WriteResult { kQueued, kBuffered, kOver, kOverflow };
  WriteResult Write(absl::string_view data);
  bool End();
  void OnGone(std::function<void()> callback);
  Answer answer() const;
  bool ended() const;

  // Connection side (its strand).
  std::optional<HttpResponse> TakeWhole();
  std::optional<Head> TakeHead();
  // The queued body bytes; *ended when End was called and nothing else is queued.
  std::string TakeBody(bool* ended);
  // The client went away before the exchange completed: runs the callback once.
  void MarkGone();
  // Written whole: the gone callback never runs.
  void MarkComplete();

 private:
  const int64_t buffer_bytes_;
  mutable absl::Mutex mu_;
  Answer answer_ ABSL_GUARDED_BY(mu_) = Answer::kNone;
  std::optional<HttpResponse> whole_ ABSL_GUARDED_BY(mu_);
  std::optional<Head> head_ ABSL_GUARDED_BY(mu_);
  std::string body_ ABSL_GUARDED_BY(mu_);
  bool poked_ ABSL_GUARDED_BY(mu_) = false;  // a flush is posted and has not taken body_ yet
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;
  bool gone_reported_ ABSL_GUARDED_BY(mu_) = false;  // MarkGone ran
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> on_gone_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::http_internal

#endif  // TESSERA_SERVER_HTTP_HTTP_EXCHANGE_H_
