#include "server/openai/completion_response.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::openai {
namespace {

using Json = nlohmann::ordered_json;

// Python's len(str): vLLM's text offsets count code points.
int64_t CodePoints(std::string_view utf8) {
  int64_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

std::string TokenText(const v1::TokenLogprob& t) {
  // Without a tokenizer the daemon sends no token text: name the id, as vLLM's
  // return_tokens_as_token_ids does.
  return t.token().empty() ? absl::StrCat("token_id:", t.token_id()) : t.token();
}

// The `k` most likely alternatives and the sampled token.
Json TopDict(const v1::PositionLogprobs& lp, int k) {
  Json top = Json::object();
  for (int i = 0; i < lp.top_size() && i < k; ++i) top[TokenText(lp.top(i))] = lp.top(i).logprob();
  // vLLM's dict holds the sampled token too, even when it is not among the top.
  if (lp.has_chosen()) {
    const std::string chosen = TokenText(lp.chosen());
    if (!top.contains(chosen)) top[chosen] = lp.chosen().logprob();
  }
  return top;
}

Json LogprobsObject() {
  Json lp;
  lp["text_offset"] = Json::array();
  lp["token_logprobs"] = Json::array();
  lp["tokens"] = Json::array();
  lp["top_logprobs"] = Json::array();
  return lp;
}

}  // namespace

CompletionResponseBuilder::CompletionResponseBuilder(const CompletionCall& call,
                                                     ResponseHeader header, Detokenizer detokenizer)
    : call_(call), header_(std::move(header)), detokenizer_(std::move(detokenizer)) {
  choices_.resize(call_.requests.size() * static_cast<size_t>(call_.n));
  for (Choice& c : choices_) c.logprobs = LogprobsObject();
  prompts_.resize(call_.requests.size());
}

void CompletionResponseBuilder::SetPromptTokenIds(int prompt_index, std::vector<int32_t> ids) {
  if (prompt_index >= 0 && prompt_index < static_cast<int>(prompts_.size())) {
    prompts_[prompt_index].token_ids = std::move(ids);
  }
}

absl::Status CompletionResponseBuilder::Check(int prompt_index,
                                              const v1::GenerateResponse& message) const {
  if (prompt_index < 0 || prompt_index >= static_cast<int>(prompts_.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt index ", prompt_index, " is outside [0, ", prompts_.size(), ")"));
  }
  for (const v1::SampleDelta& d : message.samples()) {
    if (d.index() < 0 || d.index() >= call_.n) {
      return absl::InvalidArgumentError(
          absl::StrCat("sample index ", d.index(), " is outside [0, ", call_.n, ")"));
    }
  }
  return absl::OkStatus();
}

void CompletionResponseBuilder::Record(int prompt_index, const v1::GenerateResponse& message) {
  PromptState& p = prompts_[prompt_index];
  if (message.prompt_logprobs_size() > 0 && !p.prompt_logprobs_seen) {
    p.prompt_logprobs_seen = true;
    p.prompt_logprobs.assign(message.prompt_logprobs().begin(), message.prompt_logprobs().end());
  }
  if (message.has_usage()) {
    p.prompt_tokens = message.usage().prompt_tokens();
    p.completion_tokens = message.usage().completion_tokens();
    p.cached_prompt_tokens = message.usage().cached_prompt_tokens();
    p.usage_seen = true;
  }
}

void CompletionResponseBuilder::AppendLogprob(Choice* choice, const std::string& token,
                                              Json logprob, Json top, Json* new_logprobs) {
  const int64_t offset = choice->offset;
  choice->offset += CodePoints(token);
  for (Json* lp : {&choice->logprobs, new_logprobs}) {
    (*lp)["text_offset"].push_back(offset);
    (*lp)["token_logprobs"].push_back(logprob);
    (*lp)["tokens"].push_back(token);
    (*lp)["top_logprobs"].push_back(top);
  }
}

void CompletionResponseBuilder::Echo(int prompt_index, Choice* choice, std::string* new_text,
                                     Json* new_logprobs) {
  const v1::GenerateRequest& request = call_.requests[prompt_index];
  const PromptState& p = prompts_[prompt_index];
  std::string prompt = request.text();
  if (request.text().empty() && detokenizer_) {
    prompt = detokenizer_({request.token_ids().begin(), request.token_ids().end()});
  }
  *new_text += prompt;
  if (call_.logprobs_requested) {
    for (size_t i = 0; i < p.prompt_logprobs.size(); ++i) {
      const v1::PositionLogprobs& lp = p.prompt_logprobs[i];
      if (lp.has_chosen()) {
        AppendLogprob(choice, TokenText(lp.chosen()), lp.chosen().logprob(),
                      TopDict(lp, call_.logprobs), new_logprobs);
        continue;
      }
      // The first prompt token has nothing before it, so no log-probability; the response
      // does not name it either: take it from the prompt's ids when known.
      std::string token;
      const std::vector<int32_t>* ids = &p.token_ids;
      std::vector<int32_t> request_ids(request.token_ids().begin(), request.token_ids().end());
      if (ids->empty()) ids = &request_ids;
      if (i < ids->size() && detokenizer_) token = detokenizer_({(*ids)[i]});
      AppendLogprob(choice, token, nullptr, nullptr, new_logprobs);
    }
  }
}

Json CompletionResponseBuilder::Apply(int prompt_index, const v1::SampleDelta& delta) {
  Choice& choice = choices_[static_cast<size_t>(prompt_index) * call_.n + delta.index()];
  std::string new_text;
  Json new_logprobs = LogprobsObject();
  if (call_.echo && !choice.echoed) {
    choice.echoed = true;
    Echo(prompt_index, &choice, &new_text, &new_logprobs);
  }
  if (call_.logprobs_requested) {
    for (const v1::PositionLogprobs& lp : delta.logprobs()) {
      AppendLogprob(&choice, TokenText(lp.chosen()), lp.chosen().logprob(),
                    TopDict(lp, call_.logprobs), &new_logprobs);
    }
  }
  new_text += delta.text();
  choice.text += new_text;
  if (delta.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    choice.finish = delta.finish_reason();
    if (!delta.stop_string().empty()) {
      choice.stop_reason = delta.stop_string();
    } else if (delta.has_stop_token_id()) {
      choice.stop_reason = delta.stop_token_id();
    }
  }
  Json out;
  out["index"] = static_cast<int64_t>(prompt_index) * call_.n + delta.index();
  out["text"] = std::move(new_text);
  out["logprobs"] = call_.logprobs_requested ? std::move(new_logprobs) : Json(nullptr);
  out["finish_reason"] = FinishReasonJson(delta.finish_reason());
  out["stop_reason"] =
      delta.finish_reason() != v1::FINISH_REASON_UNSPECIFIED ? choice.stop_reason : Json(nullptr);
  return out;
}

absl::Status CompletionResponseBuilder::Add(int prompt_index, const v1::GenerateResponse& message) {
  if (absl::Status s = Check(prompt_index, message); !s.ok()) return s;
  Record(prompt_index, message);
  for (const v1::SampleDelta& d : message.samples()) Apply(prompt_index, d);
  return absl::OkStatus();
}

Json CompletionResponseBuilder::Header() const {
  Json j;
  j["id"] = header_.id;
  j["object"] = "text_completion";
  j["created"] = header_.created;
  j["model"] = header_.model;
  return j;
}

Json CompletionResponseBuilder::Usage() const {
  int64_t prompt = 0;
  int64_t completion = 0;
  int64_t cached = 0;
  for (const PromptState& p : prompts_) {
    prompt += p.prompt_tokens;
    completion += p.completion_tokens;
    cached += p.cached_prompt_tokens;
  }
  return UsageJson(prompt, completion, cached);
}

Json CompletionResponseBuilder::Build() const {
  Json j = Header();
  j["choices"] = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    Json choice;
    choice["index"] = static_cast<int64_t>(i);
    choice["text"] = c.text;
    choice["logprobs"] = call_.logprobs_requested ? c.logprobs : Json(nullptr);
    choice["finish_reason"] = FinishReasonJson(c.finish);
    choice["stop_reason"] = c.stop_reason;
    j["choices"].push_back(std::move(choice));
  }
  j["usage"] = Usage();
  return j;
}

absl::StatusOr<std::vector<Json>> CompletionResponseBuilder::StreamChunks(
    int prompt_index, const v1::GenerateResponse& message) {
  if (absl::Status s = Check(prompt_index, message); !s.ok()) return s;
  Record(prompt_index, message);
  std::vector<Json> chunks;
  for (const v1::SampleDelta& d : message.samples()) {
    Json choice = Apply(prompt_index, d);
    const bool has_logprobs =
        choice["logprobs"].is_object() && !choice["logprobs"]["tokens"].empty();
    if (choice["text"].get_ref<const std::string&>().empty() && choice["finish_reason"].is_null() &&
        !has_logprobs) {
      continue;  // nothing a client could see (e.g. half of a character)
    }
    Json chunk = Header();
    chunk["choices"] = Json::array({std::move(choice)});
    if (call_.include_usage) chunk["usage"] = nullptr;
    chunks.push_back(std::move(chunk));
  }
  return chunks;
}

std::vector<Json> CompletionResponseBuilder::StreamEnd() const {
  if (!call_.include_usage) return {};
  Json chunk = Header();
  chunk["choices"] = Json::array();
  chunk["usage"] = Usage();
  return {chunk};
}

}  // namespace tessera::openai
