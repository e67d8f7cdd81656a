// Reference outputs computed by Hugging Face transformers (../shared/fixtures/refs), for the golden
// tests: per prompt, greedy tokens with their margins and teacher-forced log-probabilities.
#ifndef TESSERA_TESTS_ENGINE_CPU_GOLDEN_REFERENCE_H_
#define TESSERA_TESTS_ENGINE_CPU_GOLDEN_REFERENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/request.h"

namespace tessera {

struct GoldenCase {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> greedy;
  std::vector<double> margins;      // top-1 minus top-2 logit at each greedy step
  std::vector<double> tf_logprobs;  // [t]: log p(seq[t+1] | seq[..t]), seq = prompt + greedy
  std::vector<std::vector<int32_t>> top5_ids;
  std::vector<std::vector<double>> top5_logprobs;
  double bf16_max_abs_logprob_dev = 0;
};

// Reads `<refs>/<name>.public.json`; aborts the test binary on malformed reference files.
std::vector<GoldenCase> LoadGoldenCases(const std::string& path);

// Reads tensor "case<i>" of `<refs>/<name>.public.last_logits.safetensors`.
std::vector<float> LoadLastLogits(const std::string& path, int case_index);

// Teacher forcing over prompt + greedy: one token, prompt log-probabilities with the top 5.
GenerateRequest TeacherForcedRequest(const GoldenCase& c, const std::string& id);
// The reference's greedy continuation: as many tokens, with the top-2 log-probabilities.
GenerateRequest GreedyRequest(const GoldenCase& c, const std::string& id);
// A seeded sampling request using every cut and penalty: temperature 0.8, top-k 40, top-p 0.9,
// min-p 0.02, repetition penalty 1.2, presence 0.3, frequency 0.2; 24 tokens with the top-2
// log-probabilities.
GenerateRequest SeededSamplingRequest(const GoldenCase& c, const std::string& id, uint64_t seed);

}  // namespace tessera

#endif  // TESSERA_TESTS_ENGINE_CPU_GOLDEN_REFERENCE_H_
