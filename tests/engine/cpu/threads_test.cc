// CpuEngineOptions::num_threads holds on whichever thread steps the engine: the daemon creates the
// engine on its main thread and steps it on the scheduler's.
#include <gtest/gtest.h>
#include <omp.h>

#include <thread>

#include "engine/cpu/cpu_engine.h"

namespace tessera {
namespace {

TEST(CpuEngineThreadsTest, NumThreadsAppliesOnTheSteppingThread) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 64;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  c.layer_sliding_window = {0};
  CpuEngineOptions o;
  o.num_kv_blocks = 4;
  o.block_size = 4;
  o.num_threads = 1;
  absl::StatusOr<std::unique_ptr<CpuEngine>> engine =
      CpuEngine::Create(c, CpuWeights::Random(c, 1), o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  int before = 0, after = 0;
  std::thread stepper([&] {
    omp_set_num_threads(3);  // what a thread that never set it could have: anything but 1
    before = omp_get_max_threads();
    StepPlan plan;
    StepSequence seq;
    seq.sample = true;
    plan.AddSequence({1, 2, 3}, {0}, 4, seq);
    absl::StatusOr<StepResult> r = (*engine)->Step(plan);
    EXPECT_TRUE(r.ok()) << r.status();
    after = omp_get_max_threads();
  });
  stepper.join();
  EXPECT_EQ(before, 3);
  EXPECT_EQ(after, 1);
}

}  // namespace
}  // namespace tessera
