#include "scheduler/request_sink.h"

#include <utility>

namespace tessera {

void QueueSink::Push(RequestUpdate update) {
  absl::MutexLock lock(&mu_);
  done_ = done_ || update.finished;
  queue_.push_back(std::move(update));
}

std::optional<RequestUpdate> QueueSink::Next(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Condition ready(
      +[](std::deque<RequestUpdate>* q) { return !q->empty(); }, &queue_);
  if (!mu_.AwaitWithTimeout(ready, timeout)) return std::nullopt;
  RequestUpdate u = std::move(queue_.front());
  queue_.pop_front();
  return u;
}

bool QueueSink::done() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

void CollectedRequest::Add(const RequestUpdate& u) {
  for (const SampleDelta& d : u.samples) {
    if (d.index >= static_cast<int32_t>(samples.size())) samples.resize(d.index + 1);
    CollectedSample& s = samples[d.index];
    s.token_ids.insert(s.token_ids.end(), d.token_ids.begin(), d.token_ids.end());
    s.logprobs.insert(s.logprobs.end(), d.logprobs.begin(), d.logprobs.end());
    s.text += d.text;
    if (d.finish) s.finish = d.finish;
  }
  if (!u.prompt_logprobs.empty()) prompt_logprobs = u.prompt_logprobs;
  if (u.finished) {
    finished = true;
    status = u.status;
    timings = u.timings;
  }
}

}  // namespace tessera
