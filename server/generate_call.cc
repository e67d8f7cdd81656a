#include "server/generate_call.h"

#include <utility>

#include "server/grpc_status.h"
#include "server/response_convert.h"

namespace tessera {

class GenerateCall::Sink final : public RequestSink {
 public:
  explicit Sink(GenerateCall* call) : call_(call) {}
  void Push(RequestUpdate update) override {
    // The final update is the last push: after it the call may finish and be deleted.
    GenerateCall* call = update.finished ? std::exchange(call_, nullptr) : call_;
    if (call != nullptr) call->Push(std::move(update));
  }

 private:
  GenerateCall* call_;  // scheduler thread only
};

GenerateCall::GenerateCall(Scheduler* scheduler, std::string internal_id, std::string client_id,
                           const Tokenizer* tokenizer, OnFinal on_final)
    : scheduler_(scheduler),
      internal_id_(std::move(internal_id)),
      client_id_(std::move(client_id)),
      tokenizer_(tokenizer),
      on_final_(std::move(on_final)) {}

std::shared_ptr<RequestSink> GenerateCall::sink() { return std::make_shared<Sink>(this); }

void GenerateCall::Fail(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    have_final_ = true;
    final_status_ = status;
    finish_sent_ = true;
  }
  on_final_ = nullptr;  // it was never in the scheduler
  Finish(status);
}

void GenerateCall::Push(RequestUpdate update) {
  v1::GenerateResponse response;
  ToGenerateResponse(update, client_id_, tokenizer_, &response);
  Action action;
  grpc::Status final_status;
  {
    absl::MutexLock lock(&mu_);
    if (!client_gone_) pending_.push_back(std::move(response));
    if (update.finished) {
      have_final_ = true;
      final_status_ = client_gone_ ? grpc::Status::CANCELLED : ToGrpcStatus(update.status);
      final_status = final_status_;
    }
    action = NextLocked();
  }
  if (update.finished && on_final_) {
    std::exchange(on_final_, nullptr)(final_status, update.timings);
  }
  Act(action);
}

GenerateCall::Action GenerateCall::NextLocked() {
  if (writing_ || finish_sent_) return Action::kNone;
  if (!pending_.empty() && !client_gone_) {
    write_buffer_ = std::move(pending_.front());
    pending_.pop_front();
    for (; !pending_.empty(); pending_.pop_front()) write_buffer_.MergeFrom(pending_.front());
    writing_ = true;
    return Action::kWrite;
  }
  if (have_final_) {
    finish_sent_ = true;
    return Action::kFinish;
  }
  return Action::kNone;
}

void GenerateCall::Act(Action action) {
  switch (action) {
    case Action::kNone:
      return;
    case Action::kWrite:
      StartWrite(&write_buffer_);
      return;
    case Action::kFinish: {
      grpc::Status status;
      {
        absl::MutexLock lock(&mu_);
        status = final_status_;
      }
      Finish(status);
      return;
    }
  }
}

void GenerateCall::OnWriteDone(bool ok) {
  Action action;
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok && !client_gone_) {
      client_gone_ = true;
      pending_.clear();
      cancel = !have_final_;
    }
    action = NextLocked();
  }
  if (cancel) scheduler_->Cancel(internal_id_);
  Act(action);
}

void GenerateCall::OnCancel() {
  bool cancel;
  {
    absl::MutexLock lock(&mu_);
    cancel = !client_gone_ && !have_final_;
    client_gone_ = true;
    pending_.clear();
  }
  // The scheduler answers with a final update, which finishes the call.
  if (cancel) scheduler_->Cancel(internal_id_);
}

void GenerateCall::OnDone() { delete this; }

}  // namespace tessera
