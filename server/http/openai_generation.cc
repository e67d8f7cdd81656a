#include "server/http/openai_generation.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/openai/openai_error.h"
#include "server/response_convert.h"

namespace tessera {
namespace {

std::string Dump(const nlohmann::ordered_json& j) {
  // Generated text may end inside a character only if the tokenizer let it; never throw on it.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

class OpenAiGeneration::Sink final : public RequestSink {
 public:
  Sink(std::shared_ptr<OpenAiGeneration> call, int prompt_index)
      : call_(std::move(call)), prompt_index_(prompt_index) {}
  void Push(RequestUpdate update) override {
    if (call_ == nullptr) return;
    call_->Push(prompt_index_, update);
    if (update.finished) call_.reset();  // the scheduler's last word on this request
  }

 private:
  std::shared_ptr<OpenAiGeneration> call_;  // scheduler thread only
  const int prompt_index_;
};

OpenAiGeneration::OpenAiGeneration(const Tokenizer* tokenizer,
                                   std::shared_ptr<HttpResponder> responder,
                                   HttpHeaders extra_headers, bool stream)
    : tokenizer_(tokenizer),
      responder_(std::move(responder)),
      extra_headers_(std::move(extra_headers)),
      stream_(stream) {}

std::shared_ptr<OpenAiGeneration> OpenAiGeneration::ForCompletion(
    openai::CompletionCall call, openai::ResponseHeader header, const Tokenizer* tokenizer,
    std::shared_ptr<HttpResponder> responder, HttpHeaders extra_headers) {
  const bool stream = call.stream;
  std::shared_ptr<OpenAiGeneration> g(
      new OpenAiGeneration(tokenizer, std::move(responder), std::move(extra_headers), stream));
  g->completion_ = std::make_unique<openai::CompletionCall>(std::move(call));
  openai::Detokenizer detokenizer;
  if (tokenizer != nullptr) {
    detokenizer = [tokenizer](const std::vector<int32_t>& ids) {
      absl::StatusOr<std::string> text = tokenizer->Decode(ids, false);
      return text.ok() ? *std::move(text) : std::string();
    };
  }
  g->completion_builder_ = std::make_unique<openai::CompletionResponseBuilder>(
      *g->completion_, std::move(header), std::move(detokenizer));
  return g;
}

std::shared_ptr<OpenAiGeneration> OpenAiGeneration::ForChat(
    openai::ChatCall call, openai::ResponseHeader header, const Tokenizer* tokenizer,
    std::shared_ptr<HttpResponder> responder, HttpHeaders extra_headers) {
  const bool stream = call.stream;
  std::shared_ptr<OpenAiGeneration> g(
      new OpenAiGeneration(tokenizer, std::move(responder), std::move(extra_headers), stream));
  g->chat_ = std::make_unique<openai::ChatCall>(std::move(call));
  g->chat_builder_ = std::make_unique<openai::ChatResponseBuilder>(*g->chat_, std::move(header));
  return g;
}

void OpenAiGeneration::Start(InferenceEdge& edge, const EdgeCaller& caller,
                             const std::string& adapter, const std::string& request_id,
                             absl::Time arrival) {
  scheduler_ = edge.deps().scheduler;
  std::vector<v1::GenerateRequest*> requests;
  if (completion_ != nullptr) {
    for (v1::GenerateRequest& r : completion_->requests) requests.push_back(&r);
  } else {
    requests.push_back(&chat_->request);
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    client_ids_.push_back(requests.size() == 1 ? request_id : absl::StrCat(request_id, "-", i));
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    v1::GenerateRequest& r = *requests[i];
    r.set_adapter(adapter);
    r.set_request_id(client_ids_[i]);
    absl::StatusOr<std::string> internal =
        edge.Generate(caller, r, client_ids_[i], arrival, [&](const std::string&) {
          return std::make_shared<Sink>(shared_from_this(), static_cast<int>(i));
        });
    absl::MutexLock lock(&mu_);
    if (!internal.ok()) {
      if (i == 0) {
        done_ = true;
        // An adapter the caller may not see is an unknown model, in OpenAI's words.
        const openai::OpenAiError e = absl::IsNotFound(internal.status()) && !adapter.empty()
                                          ? openai::ModelNotFound(adapter)
                                          : openai::FromStatus(internal.status());
        HttpResponse r = HttpResponse::Json(e.http_status, Dump(openai::ToJson(e)));
        r.headers = extra_headers_;
        responder_->Respond(std::move(r));
        return;
      }
      error_ = internal.status();
      break;
    }
    internal_ids_.push_back(*internal);
    ++running_;
    if (i == 0 && stream_) {
      HttpHeaders headers = extra_headers_;
      headers.emplace_back("Cache-Control", "no-cache");
      responder_->BeginStream(200, kEventStreamType, std::move(headers));
      began_ = true;
      if (!early_events_.empty()) responder_->Write(std::exchange(early_events_, ""));
    }
  }
  bool refused_later = false;
  {
    absl::MutexLock lock(&mu_);
    submitting_ = false;
    refused_later = !error_.ok();
    if (refused_later) cancelled_ = true;
    if (running_ == 0) return FinishLocked();
  }
  if (refused_later) CancelAll();
  responder_->OnClientGone([weak = weak_from_this()] {
    if (std::shared_ptr<OpenAiGeneration> g = weak.lock()) {
      {
        absl::MutexLock lock(&g->mu_);
        g->cancelled_ = true;
      }
      g->CancelAll();
    }
  });
}

void OpenAiGeneration::CancelAll() {
  std::vector<std::string> ids;
  {
    absl::MutexLock lock(&mu_);
    ids = internal_ids_;
  }
  for (const std::string& id : ids) scheduler_->Cancel(id);
}

void OpenAiGeneration::WriteEvent(const std::string& json) {
  std::string event = absl::StrCat("data: ", json, "\n\n");
  if (!began_) {
    early_events_ += event;
    return;
  }
  responder_->Write(event);
}

void OpenAiGeneration::Push(int prompt_index, const RequestUpdate& update) {
  v1::GenerateResponse message;
  ToGenerateResponse(update, client_ids_[prompt_index], tokenizer_, &message);
  absl::MutexLock lock(&mu_);
  if (done_) return;
  absl::Status added;
  if (stream_) {
    absl::StatusOr<std::vector<nlohmann::ordered_json>> chunks =
        completion_builder_ != nullptr ? completion_builder_->StreamChunks(prompt_index, message)
                                       : chat_builder_->StreamChunks(message);
    added = chunks.status();
    if (chunks.ok()) {
      for (const nlohmann::ordered_json& chunk : *chunks) WriteEvent(Dump(chunk));
    }
  } else {
    added = completion_builder_ != nullptr ? completion_builder_->Add(prompt_index, message)
                                           : chat_builder_->Add(message);
  }
  if (!added.ok() && error_.ok()) error_ = added;
  if (!update.finished) return;
  if (!update.status.ok() && error_.ok()) error_ = update.status;
  if (--running_ == 0 && !submitting_) FinishLocked();
}

void OpenAiGeneration::FinishLocked() {
  done_ = true;
  if (stream_) {
    if (!began_) {
      // Nothing ran (a later refusal cancelled an earlier request before its stream began).
      const openai::OpenAiError e = openai::FromStatus(error_);
      responder_->Respond(HttpResponse::Json(e.http_status, Dump(openai::ToJson(e))));
      return;
    }
    if (!error_.ok()) {
      WriteEvent(Dump(openai::ToJson(openai::FromStatus(error_))));
    } else {
      const std::vector<nlohmann::ordered_json> end = completion_builder_ != nullptr
                                                          ? completion_builder_->StreamEnd()
                                                          : chat_builder_->StreamEnd();
      for (const nlohmann::ordered_json& chunk : end) WriteEvent(Dump(chunk));
    }
    WriteEvent("[DONE]");
    responder_->End();
    return;
  }
  HttpResponse r;
  if (!error_.ok()) {
    const openai::OpenAiError e = openai::FromStatus(error_);
    r = HttpResponse::Json(e.http_status, Dump(openai::ToJson(e)));
  } else {
    r = HttpResponse::Json(200, Dump(completion_builder_ != nullptr ? completion_builder_->Build()
                                                                    : chat_builder_->Build()));
  }
  r.headers = extra_headers_;
  responder_->Respond(std::move(r));
}

}  // namespace tessera
