#include "scheduler/offline_scheduler.h"

#include <algorithm>
#include <deque>
#include <random>

#include "absl/strings/str_cat.h"
#include "engine/sampling_params.h"
#include "scheduler/kv_block_manager.h"

namespace tessera {
namespace {

// A request being served: how far its prompt has been fed and what it has produced.
struct Sequence {
  SeqId id;  // index into the request list
  const GenerateRequest* request;
  SamplingParams sampling;
  int64_t num_computed = 0;  // tokens whose K/V are in the cache
  GenerateResult* result;
  bool finished = false;

  int64_t prompt_len() const { return static_cast<int64_t>(request->prompt_token_ids.size()); }
  bool in_prefill() const { return num_computed < prompt_len(); }
  // KV the sequence can ever need: every token but the last generated one is fed.
  int64_t max_kv_tokens() const { return prompt_len() + request->max_tokens - 1; }
};

}  // namespace

std::string_view FinishReasonName(FinishReason r) {
  return r == FinishReason::kStop ? "stop" : "length";
}

OfflineScheduler::OfflineScheduler(Engine& engine, OfflineSchedulerOptions options)
    : engine_(engine), options_(options) {}

absl::Status OfflineScheduler::Validate(const GenerateRequest& r) const {
  const ModelConfig& c = engine_.config();
  const KvCacheGeometry kv = engine_.kv_geometry();
  auto fail = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("request \"", r.id, "\": ", parts...));
  };
  if (r.prompt_token_ids.empty()) return fail("token_ids is empty");
  for (size_t i = 0; i < r.prompt_token_ids.size(); ++i) {
    const int32_t t = r.prompt_token_ids[i];
    if (t < 0 || t >= c.vocab_size) {
      return fail("token_ids[", i, "] = ", t, " is outside the vocabulary [0, ", c.vocab_size, ")");
    }
  }
  if (r.max_tokens < 1) return fail("max_tokens must be >= 1, got ", r.max_tokens);
  const int64_t total = static_cast<int64_t>(r.prompt_token_ids.size()) + r.max_tokens;
  if (total > c.max_position_embeddings) {
    return fail("prompt (", r.prompt_token_ids.size(), " tokens) + max_tokens (", r.max_tokens,
                ") exceeds the model's context of ", c.max_position_embeddings, " tokens");
  }
  const int64_t blocks = (total - 1 + kv.block_size - 1) / kv.block_size;
  if (blocks > kv.num_blocks) {
    return fail("needs ", blocks, " KV blocks but the cache has ", kv.num_blocks,
                " in all; raise the KV cache size or lower max_tokens");
  }
  if (absl::Status s = ValidateSamplingParams(r.sampling, c.vocab_size); !s.ok()) {
    return fail(s.message());
  }
  if (r.prompt_logprobs < 0 || r.prompt_logprobs > c.vocab_size) {
    return fail("prompt_logprobs must be in [0, ", c.vocab_size, "], got ", r.prompt_logprobs);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GenerateResult>> OfflineScheduler::Run(
    const std::vector<GenerateRequest>& requests) {
  const KvCacheGeometry geometry = engine_.kv_geometry();
  KvBlockManager blocks(geometry.num_blocks, geometry.block_size);
  const std::vector<int64_t>& eos = engine_.config().eos_token_ids;
  std::vector<GenerateResult> results(requests.size());
  std::deque<Sequence> waiting;
  std::vector<Sequence> running;
  std::random_device entropy;
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerateRequest& r = requests[i];
    GenerateResult& out = results[i];
    out.id = r.id;
    out.prompt_token_ids = r.prompt_token_ids;
    out.status = Validate(r);
    if (!out.status.ok()) continue;
    if (r.prompt_logprobs > 0) out.prompt_logprobs.resize(r.prompt_token_ids.size());
    Sequence s{static_cast<SeqId>(i), &r, r.sampling, 0, &out, false};
    // An unseeded sampling request still needs a fixed seed for its whole life.
    if (r.sampling.temperature > 0 && r.sampling.seed == 0) {
      s.sampling.seed = (static_cast<uint64_t>(entropy()) << 32) | entropy();
    }
    waiting.push_back(s);
  }

  while (!waiting.empty() || !running.empty()) {
    // Admission: reserve the whole KV a request can need, first come first served.
    while (!waiting.empty() && static_cast<int32_t>(running.size()) < options_.max_num_seqs &&
           blocks.CanAllocate(waiting.front().id, waiting.front().max_kv_tokens())) {
      Sequence s = waiting.front();
      waiting.pop_front();
      if (absl::Status st = blocks.Allocate(s.id, s.max_kv_tokens()); !st.ok()) return st;
      running.push_back(s);
    }
    stats_.max_running = std::max(stats_.max_running, static_cast<int32_t>(running.size()));

    // Batch forming: decodes first, then prefill chunks in admission order.
    StepPlan plan;
    std::vector<Sequence*> scheduled;
    int32_t budget = options_.max_num_batched_tokens;
    for (Sequence& s : running) {
      if (s.in_prefill() || budget == 0) continue;
      StepSequence step;
      step.num_cached_tokens = s.num_computed;
      step.sample = true;
      step.sampling = s.sampling;
      step.sample_index = static_cast<int64_t>(s.result->output_token_ids.size());
      // Views for the penalties; both vectors stay untouched until the step returns.
      step.prompt_token_ids = s.request->prompt_token_ids;
      step.output_token_ids = s.result->output_token_ids;
      plan.AddSequence({s.result->output_token_ids.back()}, blocks.BlockTable(s.id),
                       geometry.block_size, std::move(step));
      scheduled.push_back(&s);
      --budget;
    }
    for (Sequence& s : running) {
      if (!s.in_prefill() || budget == 0) continue;
      const int64_t chunk = std::min<int64_t>(budget, s.prompt_len() - s.num_computed);
      const auto& prompt = s.request->prompt_token_ids;
      std::vector<int32_t> tokens(prompt.begin() + s.num_computed,
                                  prompt.begin() + s.num_computed + chunk);
      StepSequence step;
      step.num_cached_tokens = s.num_computed;
      step.sample = s.num_computed + chunk == s.prompt_len();
      step.sampling = s.sampling;
      step.prompt_token_ids = prompt;
      if (s.request->prompt_logprobs > 0) {
        step.prompt_top_k = s.request->prompt_logprobs;
        for (int64_t j = 0; j < chunk; ++j) {
          const int64_t next = s.num_computed + j + 1;
          step.prompt_targets.push_back(next < s.prompt_len() ? prompt[next] : -1);
        }
      }
      plan.AddSequence(tokens, blocks.BlockTable(s.id), geometry.block_size, std::move(step));
      scheduled.push_back(&s);
      budget -= static_cast<int32_t>(chunk);
    }

    absl::StatusOr<StepResult> result = engine_.Step(plan);
    if (!result.ok()) return result.status();
    ++stats_.steps;

    for (size_t i = 0; i < scheduled.size(); ++i) {
      Sequence& s = *scheduled[i];
      SequenceOutput& out = result->seqs[i];
      const int32_t fed = plan.num_fed(static_cast<int32_t>(i));
      for (size_t j = 0; j < out.prompt_logprobs.size(); ++j) {
        // Fed token j at position num_computed + j predicts prompt token num_computed + j + 1.
        if (out.prompt_logprobs[j]) {
          s.result->prompt_logprobs[s.num_computed + j + 1] = std::move(out.prompt_logprobs[j]);
        }
      }
      if (s.in_prefill()) stats_.prompt_tokens += fed;
      s.num_computed += fed;
      if (out.sampled_token < 0) continue;
      s.result->output_token_ids.push_back(out.sampled_token);
      ++stats_.generated_tokens;
      if (out.sample_logprobs) s.result->logprobs.push_back(std::move(*out.sample_logprobs));
      const bool is_eos = std::find(eos.begin(), eos.end(), out.sampled_token) != eos.end();
      if (is_eos) {
        s.result->finish_reason = FinishReason::kStop;
        s.finished = true;
      } else if (static_cast<int32_t>(s.result->output_token_ids.size()) >= s.request->max_tokens) {
        s.result->finish_reason = FinishReason::kLength;
        s.finished = true;
      }
    }
    for (auto it = running.begin(); it != running.end();) {
      if (!it->finished) {
        ++it;
        continue;
      }
      if (absl::Status st = blocks.Free(it->id); !st.ok()) return st;
      it = running.erase(it);
    }
  }
  return results;
}

}  // namespace tessera
