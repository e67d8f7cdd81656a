// The offline runner's wire format: JSON Lines requests in, one JSON line per result out.
//
// Request: {"id": str, "token_ids": [int] | "text": str, "add_special_tokens": bool (with
//           "text", default true), "max_tokens": int, "min_tokens": int, "n": int,
//           "temperature": float (0 = greedy), "top_k": int (0 or -1 = off), "top_p": float in
//           (0, 1], "min_p": float in [0, 1], "seed": int in [0, 2^64) (absent: a random seed),
//           "repetition_penalty": float in (0, 100] (1 = off),
//           "presence_penalty", "frequency_penalty": float in [-2, 2],
//           "logit_bias": {"token id": float in [-100, 100]} (OpenAI's shape),
//           "logprobs": int in [0, 20], "prompt_logprobs": int, "stop": str | [str],
//           "stop_token_ids": [int], "ignore_eos": bool, "include_stop_str_in_output": bool,
//           "skip_special_tokens": bool (output text, default true), "adapter": str (a LoRA
//           adapter's name; absent: the base model)}; exactly one of
//           "token_ids" and "text" is required ("text" needs a tokenizer); unknown fields are
//           errors. Token ids are checked against the model by the scheduler.
// Result:  {"id", "prompt_token_ids", "output_token_ids", "text" (with a tokenizer),
//           "finish_reason", "logprobs", "samples" (n > 1: every sample's output_token_ids,
//           text, finish_reason and logprobs; the top level repeats the first),
//           "prompt_logprobs", and "error": {"code", "message"} only for a request that failed,
//           whose other fields are then partial}; logprobs entries are
//           {"token_id", "logprob", "top": [...]}; prompt_logprobs starts with null; both are
//           null when not asked for.
#ifndef TESSERA_CLIENT_GENERATE_IO_H_
#define TESSERA_CLIENT_GENERATE_IO_H_

#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/generation_defaults.h"
#include "scheduler/request.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

// Parses one request line. `where` (e.g. "requests.jsonl:3") prefixes errors. A missing id
// becomes `default_id`. `tokenizer` (may be null) turns "text" into token ids. An "adapter"
// becomes a GenerateRequest::adapter holding the name only (no weights): the caller resolves it
// (OfflineAdapters::Resolve) before running; the scheduler refuses an adapter without weights.
// max_tokens and the sampling fields a line leaves out take `defaults` (the model's
// generation_config.json, or tessera's own).
absl::StatusOr<GenerateRequest> ParseGenerateRequest(absl::string_view line,
                                                     absl::string_view where,
                                                     const std::string& default_id,
                                                     const Tokenizer* tokenizer = nullptr,
                                                     const GenerationDefaults& defaults = {});

// Parses a whole JSON Lines stream (blank lines skipped); ids default to the line number.
absl::StatusOr<std::vector<GenerateRequest>> ParseGenerateRequests(
    std::istream& in, absl::string_view source, const Tokenizer* tokenizer = nullptr,
    const GenerationDefaults& defaults = {});

// One output line (no trailing newline).
std::string FormatGenerateResult(const GenerateResult& result);

}  // namespace tessera

#endif  // TESSERA_CLIENT_GENERATE_IO_H_
