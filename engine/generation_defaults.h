// The sampling defaults a model ships in generation_config.json, applied to the fields a request
// leaves unset (vLLM's `--generation-config auto`). Each edge (the daemon's request conversion,
// the offline runner's JSON Lines) starts a request from these values instead of the built-in
// ones, so "unset" means "what the model's authors chose".
//
// Read, as vLLM does: temperature, top_p, top_k, min_p, repetition_penalty and max_new_tokens (as
// the default max_tokens). Everything else in the file is ignored here, `do_sample` included
// (vLLM ignores it too: a config with "do_sample": false and "temperature": 0.6 samples at 0.6).
// eos_token_id is read with the model (model_config.h).
#ifndef TESSERA_ENGINE_GENERATION_DEFAULTS_H_
#define TESSERA_ENGINE_GENERATION_DEFAULTS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/sampling_params.h"

namespace tessera {

// A request's defaults for the fields it may leave unset. Default-constructed: tessera's own
// (greedy, every filter off, 16 tokens).
struct GenerationDefaults {
  float temperature = 0.0f;
  float top_p = 1.0f;
  int32_t top_k = 0;  // 0 = off
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  int32_t max_tokens = 16;

  // Default-constructed params with these defaults in place: where a request starts from.
  SamplingParams Sampling() const;

  // "temperature=0.6 top_p=0.9 ..." listing only the values that differ from tessera's own, for
  // the startup log; empty when none does.
  std::string Describe() const;
};

// `source`: "auto" reads DIR/generation_config.json of `model_dir` (absent file: the built-in
// defaults); "vllm" (or "none") ignores the model's file; any other value is a folder holding a
// generation_config.json, which must exist. A value out of range (the ranges of
// sampling_params.h; max_new_tokens >= 1) is InvalidArgument naming the file and the field.
absl::StatusOr<GenerationDefaults> LoadGenerationDefaults(const std::string& source,
                                                          const std::string& model_dir);

// Parses the text of a generation_config.json (`where` names it in errors).
absl::StatusOr<GenerationDefaults> ParseGenerationDefaults(const std::string& text,
                                                           const std::string& where);

}  // namespace tessera

#endif  // TESSERA_ENGINE_GENERATION_DEFAULTS_H_
