#include "scheduler/offline_scheduler.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "scheduler/request_sink.h"

namespace tessera {

OfflineScheduler::OfflineScheduler(Engine& engine, OfflineSchedulerOptions options,
                                   const Tokenizer* tokenizer)
    : engine_(engine),
      options_(options),
      tokenizer_(tokenizer),
      validator_(engine, tokenizer != nullptr, CoreOptions(0)) {}

SchedulerOptions OfflineScheduler::CoreOptions(size_t num_requests) const {
  SchedulerOptions o;
  o.max_num_batched_tokens = options_.max_num_batched_tokens;
  o.max_num_seqs = options_.max_num_seqs;
  o.max_model_len = options_.max_model_len;
  o.enable_prefix_caching = options_.enable_prefix_caching;
  // Everything is queued up front: the queue bounds are for serving, not for offline runs.
  o.max_waiting_requests = static_cast<int32_t>(
      std::min<size_t>(std::max<size_t>(num_requests, 1), std::numeric_limits<int32_t>::max()));
  o.max_waiting_prompt_tokens = std::numeric_limits<int64_t>::max() / 2;
  return o;
}

absl::Status OfflineScheduler::Validate(const GenerateRequest& request) const {
  return validator_.Validate(request);
}

absl::StatusOr<std::vector<GenerateResult>> OfflineScheduler::Run(
    const std::vector<GenerateRequest>& requests) {
  SchedulerCore core(engine_, tokenizer_, clock_, CoreOptions(requests.size()));
  std::vector<GenerateResult> results(requests.size());
  std::vector<std::shared_ptr<QueueSink>> sinks(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    results[i].id = requests[i].id;
    results[i].prompt_token_ids = requests[i].prompt_token_ids;
    sinks[i] = std::make_shared<QueueSink>();
    results[i].status = core.Add(requests[i], sinks[i]);
  }
  stats_ = {};
  while (!core.idle()) {
    absl::StatusOr<StepReport> step = core.Step();
    if (!step.ok()) return step.status();
    stats_.max_running = std::max(stats_.max_running, step->num_seqs);
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    if (!results[i].status.ok()) continue;
    CollectedRequest c;
    while (std::optional<RequestUpdate> u = sinks[i]->Next(absl::ZeroDuration())) c.Add(*u);
    GenerateResult& r = results[i];
    r.status = c.status;
    r.prompt_logprobs = std::move(c.prompt_logprobs);
    for (size_t s = 0; s < c.samples.size(); ++s) {
      GeneratedSample g;
      g.output_token_ids = std::move(c.samples[s].token_ids);
      g.logprobs = std::move(c.samples[s].logprobs);
      g.finish_reason = c.samples[s].finish.value_or(FinishReason::kAbort);
      if (tokenizer_ != nullptr) g.text = std::move(c.samples[s].text);
      r.samples.push_back(std::move(g));
    }
    if (!r.samples.empty()) {
      r.output_token_ids = r.samples[0].output_token_ids;
      r.logprobs = r.samples[0].logprobs;
      r.finish_reason = r.samples[0].finish_reason;
      r.text = r.samples[0].text;
    }
    if (requests[i].n == 1) r.samples.clear();
  }
  const SchedulerStats& st = core.stats();
  stats_.steps = st.num_steps_total;
  stats_.prompt_tokens = st.prompt_tokens_total;
  stats_.generated_tokens = st.generation_tokens_total;
  stats_.preemptions = st.num_preemptions_total;
  return results;
}

}  // namespace tessera
