// One Generate call: a gRPC server-stream reactor fed by the scheduler through a RequestSink.
//
// The scheduler pushes updates on its thread; each becomes a GenerateResponse queued here. Exactly
// one write is in flight (the next starts from OnWriteDone); updates that arrive meanwhile are
// merged into the next message, so a slow reader costs larger messages, not more of them. A client
// that goes away (OnCancel, or a failed write) cancels the request in the scheduler. The call
// finishes only after the scheduler's final update, so the sink never outlives the reactor's use:
// gRPC deletes the reactor in OnDone, after Finish.
//
// Thread-safe: the sink's Push, the gRPC reactions and Fail may run on different threads.
#ifndef TESSERA_SERVER_GENERATE_CALL_H_
#define TESSERA_SERVER_GENERATE_CALL_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/request_sink.h"
#include "scheduler/scheduler.h"
#include "tessera/v1/inference.grpc.pb.h"

namespace tessera {

class GenerateCall final : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  // Runs once, on the scheduler's final update, with the status the call ends with and the
  // request's timings (from the final update).
  using OnFinal =
      std::function<void(const grpc::Status&, const std::optional<RequestTimings>& timings)>;

  // `scheduler` and `tokenizer` (may be null) must outlive the call.
  GenerateCall(Scheduler* scheduler, std::string internal_id, std::string client_id,
               const Tokenizer* tokenizer, OnFinal on_final);

  // The sink to submit with the request. It holds no reference to the call after the final update.
  std::shared_ptr<RequestSink> sink();
  // The request never reached the scheduler: finish with `status` now (OnFinal does not run).
  void Fail(const grpc::Status& status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  class Sink;
  enum class Action { kNone, kWrite, kFinish };

  void Push(RequestUpdate update);
  // With mu_ held: what to do next, given the state. Moves pending messages into write_buffer_.
  Action NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Act(Action action);

  Scheduler* const scheduler_;
  const std::string internal_id_;
  const std::string client_id_;
  const Tokenizer* const tokenizer_;
  OnFinal on_final_;

  absl::Mutex mu_;
  std::deque<v1::GenerateResponse> pending_ ABSL_GUARDED_BY(mu_);
  v1::GenerateResponse write_buffer_;  // only touched by the thread that owns the write
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool client_gone_ ABSL_GUARDED_BY(mu_) = false;
  bool have_final_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_sent_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera

#endif  // TESSERA_SERVER_GENERATE_CALL_H_
