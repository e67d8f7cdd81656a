// The slo policy's steps keep to the time its budget was sized for, through the core: a budget
// counts prefill tokens as one chunk from position 0, but a chunk deep into a long prompt
// attends to all of it, so BatchFormer cuts each chunk to the policy's StepSecondsLimit with its
// real attention. An engine that takes exactly what the cost model says (the model knows it)
// shows every step of a decode with a TPOT target within that target while a long prompt
// prefills next to it, and the prompt still finishes.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/clock.h"
#include "scheduler/plan_shape.h"
#include "scheduler/request_sink.h"
#include "scheduler/scheduler_core.h"

namespace tessera {
namespace {

// Advances the clock by the cost model's time for each plan's shape; samples token 7.
class TimedEngine final : public Engine {
 public:
  struct Taken {
    StepShape shape;
    double seconds;
    int64_t max_cached;  // the deepest prefill chunk's cached length
  };
  TimedEngine(ManualClock& clock, StepTimeCoefficients cost) : clock_(clock), cost_(cost) {
    config_.vocab_size = 300;
    config_.max_position_embeddings = 4096;
  }
  const ModelConfig& config() const override { return config_; }
  KvCacheGeometry kv_geometry() const override { return {1024, 16}; }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override {
    Taken s{ShapeOf(plan), 0, 0};
    s.seconds = cost_.Predict(s.shape);
    StepResult r;
    r.seqs.resize(static_cast<size_t>(plan.num_seqs()));
    for (int32_t i = 0; i < plan.num_seqs(); ++i) {
      const auto k = static_cast<size_t>(i);
      if (plan.qo_indptr[k + 1] - plan.qo_indptr[k] > 1) {
        s.max_cached = std::max(s.max_cached, plan.seqs[k].num_cached_tokens);
      }
      if (plan.seqs[k].sample) r.seqs[k].sampled_token = 7;
    }
    clock_.Advance(absl::Seconds(s.seconds));
    steps_.push_back(s);
    return r;
  }
  const std::vector<Taken>& steps() const { return steps_; }

 private:
  ManualClock& clock_;
  StepTimeCoefficients cost_;
  ModelConfig config_;
  std::vector<Taken> steps_;
};

class Discard final : public RequestSink {
 public:
  void Push(RequestUpdate) override {}
};

GenerateRequest Request(std::string id, int64_t prompt, int32_t max_tokens) {
  GenerateRequest r;
  r.id = std::move(id);
  r.prompt_token_ids.assign(static_cast<size_t>(prompt), 5);
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  return r;
}

TEST(SloStepTimeTest, ChunksDeepIntoALongPromptAreCutToTheDecodesTpot) {
  // 2 ms a step, 0.1 ms per prefill token, 0.5 ms per decode, 1 us per attended position: a
  // chunk of 110 tokens costs 17.1 ms from position 0 and 29.2 ms from position 110.
  const StepTimeCoefficients cost{.constant = 2e-3,
                                  .per_prefill_token = 1e-4,
                                  .per_decode_sequence = 5e-4,
                                  .per_attended_token = 1e-6,
                                  .per_adapter_row = 0};
  SchedulerOptions o;
  o.scheduling_policy = SchedulingPolicyKind::kSlo;
  o.max_num_batched_tokens = 2048;
  o.step_time_prior = cost;
  ManualClock clock(absl::UnixEpoch());
  TimedEngine engine(clock, cost);
  SchedulerCore core(engine, nullptr, clock, o);
  auto sink = std::make_shared<Discard>();
  GenerateRequest chat = Request("chat", 8, 200);
  chat.tpot_target = absl::Milliseconds(20);
  ASSERT_TRUE(core.Add(chat, sink).ok());
  ASSERT_TRUE(core.Step().ok());  // its prompt: decoding from here
  ASSERT_TRUE(core.Add(Request("document", 1500, 1), sink).ok());
  for (int i = 0; i < 10000 && !core.idle(); ++i) ASSERT_TRUE(core.Step().ok());
  ASSERT_TRUE(core.idle());  // both finished
  // The chat's first token came with step 0; its TPOT target holds after every token (a step
  // may use what earlier ones banked by running under 20 ms, no more).
  int64_t deepest = 0;
  int decode_steps = 0;
  double since_first = 0;
  for (size_t i = 1; i < engine.steps().size(); ++i) {
    const TimedEngine::Taken& s = engine.steps()[i];
    if (s.shape.decode_sequences == 0) continue;  // the chat finished: no target left
    ++decode_steps;
    since_first += s.seconds;
    EXPECT_LE(since_first, 0.020 * decode_steps + 1e-9)
        << "step " << i << " took " << s.seconds << " s feeding " << s.shape.prefill_tokens
        << " prompt tokens after " << s.max_cached << " cached";
    if (s.shape.prefill_tokens > 0) deepest = std::max(deepest, s.max_cached);
  }
  EXPECT_EQ(decode_steps, 199);
  // The document's chunks went deep while the chat decoded (so the cut was needed).
  EXPECT_GT(deepest, 500);
}

}  // namespace
}  // namespace tessera
