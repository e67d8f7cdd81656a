#include "tests/engine/cpu/golden_reference.h"

#include <fstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "engine/safetensors.h"
#include "nlohmann/json.hpp"

namespace tessera {

std::vector<GoldenCase> LoadGoldenCases(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  const nlohmann::json j = nlohmann::json::parse(in);
  std::vector<GoldenCase> cases;
  for (const auto& c : j.at("cases")) {
    GoldenCase g;
    g.prompt_ids = c.at("prompt_ids").get<std::vector<int32_t>>();
    g.greedy = c.at("greedy").get<std::vector<int32_t>>();
    g.margins = c.at("margins").get<std::vector<double>>();
    g.tf_logprobs = c.at("tf_logprobs").get<std::vector<double>>();
    g.top5_ids = c.at("top5_ids").get<std::vector<std::vector<int32_t>>>();
    g.top5_logprobs = c.at("top5_logprobs").get<std::vector<std::vector<double>>>();
    g.bf16_max_abs_logprob_dev = c.at("bf16_max_abs_logprob_dev").get<double>();
    cases.push_back(std::move(g));
  }
  return cases;
}

std::vector<float> LoadLastLogits(const std::string& path, int case_index) {
  auto file = SafetensorsFile::Open(path);
  if (!file.ok()) throw std::runtime_error(std::string(file.status().message()));
  const TensorView* t = (*file)->Find(absl::StrCat("case", case_index));
  if (t == nullptr) throw std::runtime_error(absl::StrCat(path, ": no case", case_index));
  std::vector<float> out(t->NumElements());
  ConvertToFloat(t->dtype, t->data.data(), out.size(), out.data());
  return out;
}

GenerateRequest TeacherForcedRequest(const GoldenCase& c, const std::string& id) {
  GenerateRequest r;
  r.id = id;
  r.prompt_token_ids = c.prompt_ids;
  r.prompt_token_ids.insert(r.prompt_token_ids.end(), c.greedy.begin(), c.greedy.end());
  r.max_tokens = 1;
  r.prompt_logprobs = 5;
  return r;
}

GenerateRequest GreedyRequest(const GoldenCase& c, const std::string& id) {
  GenerateRequest r;
  r.id = id;
  r.prompt_token_ids = c.prompt_ids;
  r.max_tokens = static_cast<int32_t>(c.greedy.size());
  r.sampling.num_logprobs = 2;
  return r;
}

GenerateRequest SeededSamplingRequest(const GoldenCase& c, const std::string& id, uint64_t seed) {
  GenerateRequest r;
  r.id = id;
  r.prompt_token_ids = c.prompt_ids;
  r.max_tokens = 24;
  r.sampling.num_logprobs = 2;
  r.sampling.temperature = 0.8f;
  r.seed = seed;
  r.sampling.top_k = 40;
  r.sampling.top_p = 0.9f;
  r.sampling.min_p = 0.02f;
  r.sampling.repetition_penalty = 1.2f;
  r.sampling.presence_penalty = 0.3f;
  r.sampling.frequency_penalty = 0.2f;
  return r;
}

}  // namespace tessera
