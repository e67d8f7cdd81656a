// One OpenAI generation call over HTTP (/v1/completions with one or more prompts, or
// /v1/chat/completions): submits its tessera.v1.GenerateRequests through the InferenceEdge, turns
// the scheduler's updates into OpenAI JSON with the openai layer's builders, and answers through
// the HttpResponder: whole at the end, or as Server-Sent Events (`data: {...}\n\n`, an error
// event if a request fails midway, the usage chunk when asked, then `data: [DONE]\n\n`).
//
// A client that goes away (the responder's OnClientGone: closed, or fallen more than the stream
// buffer behind) cancels every request of the call in the scheduler, which frees them within a
// step. Updates are converted on the scheduler's thread (as the gRPC stream converts them), under
// a mutex, so the IO threads never wait for a generation.
//
// Thread-safe. Owned by its sinks (the scheduler holds them until each final update) and the
// callbacks it registers.
#ifndef TESSERA_SERVER_HTTP_OPENAI_GENERATION_H_
#define TESSERA_SERVER_HTTP_OPENAI_GENERATION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/http_router.h"
#include "server/inference_edge.h"
#include "server/openai/chat.h"
#include "server/openai/chat_response.h"
#include "server/openai/completion_response.h"
#include "server/openai/completions.h"

namespace tessera {

class OpenAiGeneration : public std::enable_shared_from_this<OpenAiGeneration> {
 public:
  // `extra_headers` go on the response (x-request-id).
  static std::shared_ptr<OpenAiGeneration> ForCompletion(openai::CompletionCall call,
                                                         openai::ResponseHeader header,
                                                         const Tokenizer* tokenizer,
                                                         std::shared_ptr<HttpResponder> responder,
                                                         HttpHeaders extra_headers);
  static std::shared_ptr<OpenAiGeneration> ForChat(openai::ChatCall call,
                                                   openai::ResponseHeader header,
                                                   const Tokenizer* tokenizer,
                                                   std::shared_ptr<HttpResponder> responder,
                                                   HttpHeaders extra_headers);

  // Submits the call's requests (with `adapter`, "" for the base model). A refusal of the first
  // is answered at once as an OpenAI error; a later one cancels those already running and ends
  // the call with that error. Call once.
  void Start(InferenceEdge& edge, const EdgeCaller& caller, const std::string& adapter,
             const std::string& request_id, absl::Time arrival);

 private:
  class Sink;
  OpenAiGeneration(const Tokenizer* tokenizer, std::shared_ptr<HttpResponder> responder,
                   HttpHeaders extra_headers, bool stream);

  void Push(int prompt_index, const RequestUpdate& update);
  // With mu_ held: the call's last request has ended.
  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteEvent(const std::string& json) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelAll();

  const Tokenizer* const tokenizer_;
  const std::shared_ptr<HttpResponder> responder_;
  const HttpHeaders extra_headers_;
  const bool stream_;
  Scheduler* scheduler_ = nullptr;

  // One of the two calls, with its builder (the builder points into the call).
  std::unique_ptr<openai::CompletionCall> completion_;
  std::unique_ptr<openai::CompletionResponseBuilder> completion_builder_;
  std::unique_ptr<openai::ChatCall> chat_;
  std::unique_ptr<openai::ChatResponseBuilder> chat_builder_;

  absl::Mutex mu_;
  std::vector<std::string> internal_ids_ ABSL_GUARDED_BY(mu_);  // submitted, for Cancel
  std::vector<std::string> client_ids_;                         // per prompt, set by Start
  int running_ ABSL_GUARDED_BY(mu_) = 0;                        // submitted, not finished
  bool submitting_ ABSL_GUARDED_BY(mu_) = true;                 // Start has not returned
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool began_ ABSL_GUARDED_BY(mu_) = false;  // the stream's head is sent; before it, events wait
  std::string early_events_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);  // the first request that failed
};

}  // namespace tessera

#endif  // TESSERA_SERVER_HTTP_OPENAI_GENERATION_H_
