// Shared helpers of the scheduler tests: a small random-weight CPU engine (no fixtures) and a
// driver that runs a SchedulerCore until every request has finished.
#ifndef TESSERA_TESTS_SCHEDULER_SCHEDULER_TEST_UTIL_H_
#define TESSERA_TESTS_SCHEDULER_SCHEDULER_TEST_UTIL_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/cpu_engine.h"
#include "gtest/gtest.h"
#include "scheduler/scheduler_core.h"

namespace tessera::testing {

inline ModelConfig TinySchedulerConfig() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 256;
  c.layer_sliding_window = {0, 0};
  return c;
}

inline std::unique_ptr<CpuEngine> MakeTinyEngine(int32_t num_blocks, int32_t block_size = 4) {
  CpuEngineOptions o;
  o.block_size = block_size;
  o.num_kv_blocks = num_blocks;
  o.num_threads = 1;
  ModelConfig config = TinySchedulerConfig();
  CpuWeights w = CpuWeights::Random(config, 42, 0.3f);
  auto e = CpuEngine::Create(std::move(config), std::move(w), o);
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

// Submits requests with collecting sinks and steps until all are done.
class Driver {
 public:
  explicit Driver(SchedulerCore& core) : core_(core) {}

  absl::Status Add(GenerateRequest r) {
    auto sink = std::make_shared<QueueSink>();
    const std::string id = r.id;
    absl::Status s = core_.Add(std::move(r), sink);
    if (s.ok()) sinks_[id] = sink;
    return s;
  }
  // Steps until idle (at most `max_steps`); returns false on an engine error or no progress.
  bool RunToCompletion(int max_steps = 100000) {
    for (int i = 0; i < max_steps && !core_.idle(); ++i) {
      auto report = core_.Step();
      if (!report.ok()) {
        ADD_FAILURE() << report.status();
        return false;
      }
      Drain();
    }
    Drain();
    return core_.idle();
  }
  void Drain() {
    for (auto& [id, sink] : sinks_) {
      while (auto u = sink->Next(absl::ZeroDuration())) results_[id].Add(*u);
    }
  }
  const CollectedRequest& result(const std::string& id) { return results_[id]; }

 private:
  SchedulerCore& core_;
  std::map<std::string, std::shared_ptr<QueueSink>> sinks_;
  std::map<std::string, CollectedRequest> results_;
};

inline GenerateRequest MakeRequest(std::string id, std::vector<int32_t> prompt,
                                   int32_t max_tokens) {
  GenerateRequest r;
  r.id = std::move(id);
  r.prompt_token_ids = std::move(prompt);
  r.max_tokens = max_tokens;
  return r;
}

inline std::vector<int32_t> PromptOf(int seed, int len) {
  std::vector<int32_t> p;
  for (int j = 0; j < len; ++j) p.push_back((7 * seed + 3 * j + 1) % 97);
  return p;
}

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_SCHEDULER_SCHEDULER_TEST_UTIL_H_
