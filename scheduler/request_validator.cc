#include "scheduler/request_validator.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "engine/sampling_params.h"
#include "text/tokenizer/utf8.h"

namespace tessera {
namespace {

constexpr int32_t kMaxLogprobs = 20;

}  // namespace

absl::Status ValidatedRequest::set_id(std::string id) {
  if (id.empty()) return absl::InvalidArgumentError("request id is empty");
  request_.id = std::move(id);
  return absl::OkStatus();
}

RequestValidator::RequestValidator(const ModelConfig& config, const KvCacheGeometry& geometry,
                                   int32_t num_adapter_slots, bool has_tokenizer,
                                   const SchedulerOptions& options)
    : vocab_size_(config.vocab_size),
      max_position_embeddings_(config.max_position_embeddings),
      geometry_(geometry),
      num_adapter_slots_(num_adapter_slots),
      has_tokenizer_(has_tokenizer),
      max_n_(options.max_n),
      max_num_seqs_(options.max_num_seqs),
      max_model_len_(options.max_model_len),
      max_stop_strings_(options.max_stop_strings),
      max_stop_string_bytes_(options.max_stop_string_bytes) {}

absl::StatusOr<ValidatedRequest> RequestValidator::Check(GenerateRequest request) const {
  if (absl::Status s = Validate(request); !s.ok()) return s;
  return ValidatedRequest(std::move(request));
}

absl::Status RequestValidator::Validate(const GenerateRequest& r) const {
  auto fail = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("request \"", r.id, "\": ", parts...));
  };
  if (r.id.empty()) return absl::InvalidArgumentError("request id is empty");
  if (r.tenant.empty()) return fail("tenant is empty");
  const int64_t prompt = static_cast<int64_t>(r.prompt_token_ids.size());
  if (prompt == 0) return fail("the prompt is empty");
  for (int64_t i = 0; i < prompt; ++i) {
    const int32_t t = r.prompt_token_ids[i];
    if (t < 0 || t >= vocab_size_) {
      return fail("token_ids[", i, "] = ", t, " is outside the vocabulary [0, ", vocab_size_, ")");
    }
  }
  if (r.max_tokens < 1) return fail("max_tokens must be >= 1, got ", r.max_tokens);
  if (r.min_tokens < 0 || r.min_tokens > r.max_tokens) {
    return fail("min_tokens must be in [0, max_tokens = ", r.max_tokens, "], got ", r.min_tokens);
  }
  const int32_t max_n = std::min(max_n_, max_num_seqs_);
  if (r.n < 1 || r.n > max_n) return fail("n must be in [1, ", max_n, "], got ", r.n);
  if (max_model_len_ > 0 && max_model_len_ <= max_position_embeddings_ &&
      prompt + r.max_tokens > max_model_len_) {
    return fail("prompt (", prompt, " tokens) + max_tokens (", r.max_tokens,
                ") exceeds max-model-len (", max_model_len_, " tokens)");
  }
  if (prompt + r.max_tokens > max_position_embeddings_) {
    return fail("prompt (", prompt, " tokens) + max_tokens (", r.max_tokens,
                ") exceeds the model's context of ", max_position_embeddings_, " tokens");
  }
  // One sample alone must fit the whole cache, or it could never run.
  const int64_t bs = geometry_.block_size;
  const int64_t blocks = (prompt + r.max_tokens - 1 + bs - 1) / bs;
  if (blocks > geometry_.num_blocks) {
    return fail("needs ", blocks, " KV blocks but the cache has ", geometry_.num_blocks,
                " in all; lower max_tokens or the prompt length");
  }
  if (absl::Status s = ValidateSamplingParams(r.sampling, vocab_size_); !s.ok()) {
    return fail(s.message());
  }
  if (r.prompt_logprobs < 0 || r.prompt_logprobs > kMaxLogprobs) {
    return fail("prompt_logprobs must be in [0, ", kMaxLogprobs, "], got ", r.prompt_logprobs);
  }
  if (!r.stop.empty() && !has_tokenizer_) {
    return fail("stop strings need a tokenizer, and this model has none");
  }
  if (static_cast<int32_t>(r.stop.size()) > max_stop_strings_) {
    return fail("at most ", max_stop_strings_, " stop strings, got ", r.stop.size());
  }
  for (size_t i = 0; i < r.stop.size(); ++i) {
    const std::string& s = r.stop[i];
    if (s.empty()) return fail("stop[", i, "] is empty");
    if (static_cast<int32_t>(s.size()) > max_stop_string_bytes_) {
      return fail("stop[", i, "] is longer than ", max_stop_string_bytes_, " bytes");
    }
    if (tokenizer::FirstInvalidUtf8(s) != std::string_view::npos) {
      return fail("stop[", i, "] is not valid UTF-8");
    }
  }
  for (size_t i = 0; i < r.stop_token_ids.size(); ++i) {
    const int32_t t = r.stop_token_ids[i];
    if (t < 0 || t >= vocab_size_) {
      return fail("stop_token_ids[", i, "] = ", t, " is outside the vocabulary [0, ", vocab_size_,
                  ")");
    }
  }
  if (r.adapter != nullptr) {
    if (num_adapter_slots_ == 0) {
      return fail("adapter \"", r.adapter->name, "\": this engine serves no LoRA adapters");
    }
    if (r.adapter->weights == nullptr) {
      return fail("adapter \"", r.adapter->name, "\" has no weights");
    }
  }
  if (r.cache_salt.size() > kMaxCacheSaltBytes) {
    return fail("cache_salt is longer than ", kMaxCacheSaltBytes, " bytes");
  }
  if (r.timeout && *r.timeout <= absl::ZeroDuration()) return fail("the timeout has passed");
  if ((r.ttft_target && *r.ttft_target <= absl::ZeroDuration()) ||
      (r.tpot_target && *r.tpot_target <= absl::ZeroDuration())) {
    return fail("latency targets must be positive");
  }
  return absl::OkStatus();
}

}  // namespace tessera
