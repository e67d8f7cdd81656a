#include "scheduler/scheduler_state.h"

#include <algorithm>
#include <utility>

namespace tessera {

StepTimeModel SchedulerState::StepModelFor(const SchedulerOptions& options) {
  StepTimeModel::Options o;
  o.prior = options.step_time_prior;
  absl::StatusOr<StepTimeModel> model = StepTimeModel::Create(o);
  return model.ok() ? *std::move(model) : StepTimeModel();  // a negative prior: none
}

VtcFairness SchedulerState::FairnessFor(const SchedulerOptions& options) {
  VtcFairness fairness;
  for (const auto& [tenant, weight] : options.tenant_weights) {
    fairness.SetWeight(tenant, weight).IgnoreError();  // the keys file checked it: (0, 1e6]
  }
  return fairness;
}

uint64_t SampleSeed(uint64_t base, int32_t index) {
  if (index == 0) return base;
  uint64_t z = base + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(index);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Sequence* SchedulerState::NewSample(RequestState* r, int32_t index, const Tokenizer* tokenizer) {
  auto seq = std::make_unique<Sequence>();
  seq->id = next_seq_id++;
  seq->request = r;
  seq->index = index;
  seq->sampling = r->request.sampling;
  seq->sampling.seed = SampleSeed(r->base_seed, index);
  if (tokenizer != nullptr) {
    seq->text = std::make_unique<OutputText>(*tokenizer, r->request.skip_special_tokens,
                                             r->request.prompt_token_ids, r->request.stop,
                                             r->request.include_stop_str_in_output);
  }
  r->seqs.push_back(std::move(seq));
  return r->seqs.back().get();
}

void SchedulerState::RemoveFromRunning(const Sequence* seq) {
  auto it = std::find(running.begin(), running.end(), seq);
  if (it != running.end()) running.erase(it);
}

}  // namespace tessera
