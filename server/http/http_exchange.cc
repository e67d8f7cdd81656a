#include "server/http/http_exchange.h"

namespace tessera::http_internal {

bool HttpExchange::SetWhole(HttpResponse response) {
  absl::MutexLock lock(&mu_);
  if (answer_ != Answer::kNone || gone_) return false;
  answer_ = Answer::kWhole;
  whole_ = std::move(response);
  return true;
}

bool HttpExchange::SetStream(Head head) {
  absl::MutexLock lock(&mu_);
  if (answer_ != Answer::kNone || gone_) return false;
  answer_ = Answer::kStream;
  head_ = std::move(head);
  poked_ = true;  // the head's write flushes the body after it
  return true;
}

HttpExchange::WriteResult HttpExchange::Write(absl::string_view data) {
  absl::MutexLock lock(&mu_);
  if (answer_ != Answer::kStream || ended_ || gone_) return WriteResult::kOver;
  if (static_cast<int64_t>(body_.size() + data.size()) > buffer_bytes_) {
    gone_ = true;  // the connection runs the callback when it closes
    return WriteResult::kOverflow;
  }
  body_.append(data.data(), data.size());
  if (poked_) return WriteResult::kBuffered;
  poked_ = true;
  return WriteResult::kQueued;
}

bool HttpExchange::End() {
  absl::MutexLock lock(&mu_);
  if (answer_ != Answer::kStream || ended_ || gone_) return false;
  ended_ = true;
  if (poked_) return false;
  poked_ = true;
  return true;
}

void HttpExchange::OnGone(std::function<void()> callback) {
  {
    absl::MutexLock lock(&mu_);
    if (!gone_reported_) {
      if (!complete_) on_gone_ = std::move(callback);
      return;
    }
  }
  callback();
}

HttpExchange::Answer HttpExchange::answer() const {
  absl::MutexLock lock(&mu_);
  return answer_;
}

bool HttpExchange::ended() const {
  absl::MutexLock lock(&mu_);
  return ended_;
}

std::optional<HttpResponse> HttpExchange::TakeWhole() {
  absl::MutexLock lock(&mu_);
  return std::exchange(whole_, std::nullopt);
}

std::optional<HttpExchange::Head> HttpExchange::TakeHead() {
  absl::MutexLock lock(&mu_);
  return std::exchange(head_, std::nullopt);
}

std::string HttpExchange::TakeBody(bool* ended) {
  absl::MutexLock lock(&mu_);
  poked_ = false;
  *ended = ended_;
  return std::exchange(body_, std::string());
}

void HttpExchange::MarkGone() {
  std::function<void()> callback;
  {
    absl::MutexLock lock(&mu_);
    if (complete_) return;
    gone_ = true;
    gone_reported_ = true;
    complete_ = true;  // nothing more happens on this exchange
    callback = std::exchange(on_gone_, nullptr);
  }
  if (callback) callback();
}

void HttpExchange::MarkComplete() {
  absl::MutexLock lock(&mu_);
  complete_ = true;
  on_gone_ = nullptr;
}

}  // namespace tessera::http_internal
