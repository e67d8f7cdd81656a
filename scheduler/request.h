// A generation request and its result, as the scheduler sees them (native types; the server and
// the CLI convert their wire formats at the edge).
#ifndef TESSERA_SCHEDULER_REQUEST_H_
#define TESSERA_SCHEDULER_REQUEST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/lora_weights.h"
#include "engine/sampling_params.h"
#include "engine/step_plan.h"

namespace tessera {

// kAbort: cancelled by the client, past its deadline, or failed.
enum class FinishReason : uint8_t { kLength, kStop, kAbort };

std::string_view FinishReasonName(FinishReason r);  // "length" | "stop" | "abort"

// Interactive requests are admitted first and preempted last; batch requests soak up what is left.
enum class Priority : uint8_t { kInteractive, kBatch };

std::string_view PriorityName(Priority p);  // "interactive" | "batch"

// The LoRA adapter version a request runs with. The request holds it until it finishes, so a
// reload under the same name never changes a request in flight.
struct AdapterRef {
  std::string name;
  std::shared_ptr<const LoraWeights> weights;  // validated against the model by whoever loaded it
  // Identifies the weights' version (the registry's: a reload gets a larger one), so that the
  // prefix cache never serves KV computed with an older version. 0: unknown; the weights'
  // address stands in for it then.
  uint64_t version = 0;
  // Whatever keeps this version pinned where it came from (the registry's lease); released with
  // the request. May be null.
  std::shared_ptr<const void> pin;
};

inline constexpr size_t kMaxCacheSaltBytes = 256;

struct GenerateRequest {
  std::string id;
  std::string tenant = "default";
  Priority priority = Priority::kInteractive;
  std::vector<int32_t> prompt_token_ids;
  int32_t max_tokens = 16;
  // EOS, stop token ids and stop strings are ignored until this many tokens exist.
  int32_t min_tokens = 0;
  // Independent samples of the prompt; they share its KV blocks.
  int32_t n = 1;
  // temperature, logprobs (top-k per generated token), top-k/top-p/min-p, penalties, bias. Its
  // `seed` is ignored: the scheduler sets each sample's from `seed` below.
  SamplingParams sampling;
  // Same seed and request: the same tokens, whatever else runs. Unset: unseeded (the scheduler
  // draws a seed for the request's whole life, preemption included). 0 is a seed like any other,
  // as in vLLM and OpenAI.
  std::optional<uint64_t> seed;
  int32_t prompt_logprobs = 0;  // top-k per prompt position; 0 = none
  // Whether special tokens (e.g. EOS) are left out of the output text.
  bool skip_special_tokens = true;
  // Generation stops when the output text contains one of these (it needs a tokenizer). The stop
  // string itself is left out of the text unless include_stop_str_in_output.
  std::vector<std::string> stop;
  bool include_stop_str_in_output = false;
  // Generation stops after any of these tokens (kept in the ids, left out of the text).
  std::vector<int32_t> stop_token_ids;
  // Keep generating past the model's EOS tokens (until max_tokens or another stop).
  bool ignore_eos = false;
  // Latency targets: reported against (attainment counts); requests are not dropped for them.
  std::optional<absl::Duration> ttft_target;
  std::optional<absl::Duration> tpot_target;
  // Refused at admission (ResourceExhausted) when the TTFT target is predicted to be missed.
  bool reject_if_slo_unattainable = false;
  // From arrival; a request still running then is aborted with DEADLINE_EXCEEDED.
  std::optional<absl::Duration> timeout;
  // When the edge accepted the request (the scheduler's clock). Queue time, time to first token,
  // end-to-end latency and the timeout all count from it, so the wait for a step already running
  // when the request came in is counted. Unset: when Scheduler::Submit (or SchedulerCore::Add)
  // saw it.
  std::optional<absl::Time> arrival;
  // Narrows prefix-cache reuse to requests with the same salt (vLLM's cache_salt); empty: none.
  // At most kMaxCacheSaltBytes.
  std::string cache_salt;
  // A LoRA adapter on the base model; null: the base model alone.
  std::shared_ptr<const AdapterRef> adapter;
};

// One of a request's samples, in an offline result.
struct GeneratedSample {
  std::vector<int32_t> output_token_ids;
  FinishReason finish_reason = FinishReason::kLength;
  std::vector<LogprobEntry> logprobs;
  std::optional<std::string> text;
};

// An offline run's result. The top-level output fields are the first sample's; with n > 1,
// `samples` holds all of them.
struct GenerateResult {
  std::string id;
  absl::Status status;  // not OK: the request failed and the fields below are partial
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> output_token_ids;
  FinishReason finish_reason = FinishReason::kLength;
  std::vector<LogprobEntry> logprobs;  // one per output token when asked
  // One per prompt token when asked; entry 0 is always nullopt (nothing precedes it).
  std::vector<std::optional<LogprobEntry>> prompt_logprobs;
  // The output as text, when a tokenizer is at hand: what the output adds after the prompt.
  std::optional<std::string> text;
  std::vector<GeneratedSample> samples;  // n > 1 only
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_REQUEST_H_
