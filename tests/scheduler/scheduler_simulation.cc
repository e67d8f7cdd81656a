#include "tests/scheduler/scheduler_simulation.h"

#include <algorithm>
#include <utility>

#include "gtest/gtest.h"

namespace tessera::testing {
namespace {

// Mirrors SampleSeed in scheduler/scheduler_state.cc (sample i > 0 of a request seeded with `base`
// draws with this seed). If the scheduler changes it, outputs of sampled n > 1 requests stop
// matching here: update both.
uint64_t SampleSeed(uint64_t base, int32_t index) {
  if (index == 0) return base;
  uint64_t z = base + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(index);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <typename T, typename U>
bool Contains(const std::vector<T>& v, U x) {
  return std::find(v.begin(), v.end(), static_cast<T>(x)) != v.end();
}

bool IsPrefix(const std::vector<int32_t>& prefix, const std::vector<int32_t>& of) {
  return prefix.size() <= of.size() && std::equal(prefix.begin(), prefix.end(), of.begin());
}

}  // namespace

ExpectedSample ExpectSample(const FakeEngine& engine, const GenerateRequest& r, int32_t index) {
  SamplingParams sampling = r.sampling;
  sampling.seed = SampleSeed(r.seed.value_or(0), index);
  uint64_t fp = FakeEngine::kEmptyPrefix;
  int64_t pos = 0;
  for (int32_t t : r.prompt_token_ids) fp = FakeEngine::Extend(fp, t, pos++);
  const std::vector<int64_t>& eos = engine.config().eos_token_ids;
  ExpectedSample e;
  const LoraWeights* adapter =
      engine.num_adapter_slots() > 0 && r.adapter != nullptr ? r.adapter->weights.get() : nullptr;
  while (true) {
    const int32_t token = engine.NextToken(fp, sampling, adapter);
    e.token_ids.push_back(token);
    const int64_t n = static_cast<int64_t>(e.token_ids.size());
    if (n >= r.min_tokens &&
        (Contains(r.stop_token_ids, token) || (!r.ignore_eos && Contains(eos, token)))) {
      e.finish = FinishReason::kStop;
      return e;
    }
    if (n >= r.max_tokens) {
      e.finish = FinishReason::kLength;
      return e;
    }
    fp = FakeEngine::Extend(fp, token, pos++);
  }
}

void RecordingSink::Push(RequestUpdate update) {
  ++num_updates;
  if (num_final > 0) ++updates_after_final;
  for (const SampleDelta& d : update.samples) {
    tokens_received += static_cast<int64_t>(d.token_ids.size());
    if (!d.token_ids.empty() && !first_token_step) first_token_step = step_;
  }
  if (update.finished) {
    ++num_final;
    final_time = clock_.Now();
  }
  collected.Add(update);
}

Simulation::Simulation(SimulationConfig config)
    : config_(std::move(config)),
      rng_(config_.seed),
      engine_(std::make_unique<FakeEngine>(config_.engine)),
      core_(std::make_unique<SchedulerCore>(*engine_, nullptr, clock_, config_.options)) {}

int32_t Simulation::num_in_flight() const {
  int32_t n = 0;
  for (const auto& [id, t] : requests_) n += t.add_status.ok() && t.sink->num_final == 0;
  return n;
}

void Simulation::Add(GenerateRequest request) {
  Tracked& t = requests_[request.id];
  t.request = request;
  t.added = clock_.Now();
  t.sink = std::make_shared<RecordingSink>(clock_, step_);
  t.add_status = core_->Add(std::move(request), t.sink);
}

void Simulation::MaybeCancel() {
  if (std::uniform_real_distribution<double>(0, 1)(rng_) >= config_.cancel_probability) return;
  std::vector<Tracked*> live;
  for (auto& [id, t] : requests_) {
    if (t.add_status.ok() && t.sink->num_final == 0) live.push_back(&t);
  }
  if (live.empty()) return;
  Tracked* t = live[std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng_)];
  // Until its final update a request is in flight, so Cancel must find it.
  EXPECT_TRUE(core_->Cancel(t->request.id)) << t->request.id;
  t->cancelled = true;
}

bool Simulation::Run(std::vector<Arrival> arrivals) {
  std::stable_sort(arrivals.begin(), arrivals.end(),
                   [](const Arrival& a, const Arrival& b) { return a.at < b.at; });
  const absl::Time start = clock_.Now();
  size_t next = 0;
  std::uniform_int_distribution<int64_t> tick_us(0, absl::ToInt64Microseconds(config_.max_tick));
  while (true) {
    while (next < arrivals.size() && start + arrivals[next].at <= clock_.Now()) {
      Add(std::move(arrivals[next++].request));
    }
    if (between_steps) between_steps(*this);
    if (core_->idle()) {
      if (next == arrivals.size()) break;
      clock_.Advance(start + arrivals[next].at - clock_.Now());
      continue;
    }
    MaybeCancel();
    engine_->ClearPlans();
    ++step_;
    absl::StatusOr<StepReport> report = core_->Step();
    if (!report.ok()) {
      ADD_FAILURE() << "step " << step_ << ": " << report.status();
      return false;
    }
    if (!CheckStep(*report) || !CheckGauges() || !CheckCounters() || !CheckAdapterBlocks()) {
      return false;
    }
    if (step_ >= config_.max_steps) {
      ADD_FAILURE() << "still " << num_in_flight() << " requests in flight after " << step_
                    << " steps";
      return false;
    }
    clock_.Advance(absl::Microseconds(tick_us(rng_)));
  }
  // Idle adapters may stay resident in their blocks; every other block is free again.
  const KvBlockManager& blocks = core_->blocks();
  EXPECT_EQ(blocks.num_free_blocks() + blocks.num_reserved_blocks(), blocks.num_blocks())
      << "KV blocks leaked";
  EXPECT_EQ(blocks.num_sequences(), 0);
  return blocks.num_free_blocks() + blocks.num_reserved_blocks() == blocks.num_blocks() &&
         CheckGauges() && CheckCounters() && CheckAdapterBlocks();
}

bool Simulation::CheckAdapterBlocks() const {
  // The blocks of every adapter the engine holds are reserved in the scheduler's block manager
  // (so in no block table) and those are all the reserved blocks: none leaked, none shared.
  const KvBlockManager& blocks = core_->blocks();
  int32_t held = 0;
  for (int32_t slot = 0; slot < engine_->num_adapter_slots(); ++slot) {
    for (int32_t b : engine_->adapter_blocks(slot)) {
      ++held;
      if (!blocks.IsReserved(b) || blocks.RefCount(b) != 0) {
        ADD_FAILURE() << "step " << step_ << ": KV block " << b << " of the adapter in slot "
                      << slot << " is not reserved (" << blocks.RefCount(b) << " references)";
        return false;
      }
    }
  }
  const absl::Status invariants = blocks.CheckInvariants();
  EXPECT_TRUE(invariants.ok()) << "step " << step_ << ": " << invariants;
  EXPECT_EQ(held, blocks.num_reserved_blocks()) << "step " << step_;
  EXPECT_EQ(held, core_->stats().adapter_kv_blocks) << "step " << step_;
  return invariants.ok() && held == blocks.num_reserved_blocks() &&
         held == core_->stats().adapter_kv_blocks;
}

bool Simulation::CheckStep(const StepReport& report) {
  const auto& plans = engine_->plans();
  if (!report.ran) {
    // Something always fits once every block is free and requests wait, so a step that runs
    // nothing is only right when nothing is left (everything was just cancelled or timed out).
    EXPECT_TRUE(plans.empty());
    EXPECT_TRUE(core_->idle()) << "step " << step_ << " ran nothing while " << num_in_flight()
                               << " requests are in flight";
    return plans.empty() && core_->idle();
  }
  if (plans.size() != 1) {
    ADD_FAILURE() << "step " << step_ << " ran " << plans.size() << " engine steps";
    return false;
  }
  const PlanRecord& p = plans.front();
  const SchedulerOptions& o = config_.options;
  EXPECT_EQ(p.num_tokens, report.num_tokens);
  EXPECT_EQ(p.num_seqs, report.num_seqs);
  EXPECT_GE(p.num_tokens, 1) << "step " << step_ << " fed nothing";
  EXPECT_LE(p.num_tokens, o.max_num_batched_tokens) << "step " << step_ << " over the budget";
  EXPECT_LE(p.num_seqs, o.max_num_seqs) << "step " << step_ << " over max_num_seqs";
  block_copies_ += static_cast<int64_t>(p.block_copies.size());
  for (int32_t i = 0; i < p.num_seqs; ++i) {
    if (!p.sample[i] && p.num_fed[i] > 0) ++chunked_prefills_;
  }
  return p.num_tokens >= 1 && p.num_tokens <= o.max_num_batched_tokens &&
         p.num_seqs <= o.max_num_seqs && p.num_tokens == report.num_tokens &&
         p.num_seqs == report.num_seqs;
}

bool Simulation::CheckGauges() {
  const KvBlockManager& blocks = core_->blocks();
  const SchedulerStats& s = core_->stats();
  int32_t referenced = 0;
  for (int32_t b = 0; b < blocks.num_blocks(); ++b) referenced += blocks.RefCount(b) > 0;
  int32_t tenant_running = 0, tenant_waiting = 0;
  for (const auto& [name, t] : s.tenants) {
    tenant_running += t.running;
    tenant_waiting += t.waiting;
  }
  const int32_t in_flight = num_in_flight();
  const double usage = 1.0 - static_cast<double>(blocks.num_free_blocks()) / blocks.num_blocks();
  // Between steps no copy source is held: every block is free, in a table, or an adapter's.
  const int32_t accounted = referenced + blocks.num_free_blocks() + blocks.num_reserved_blocks();
  EXPECT_EQ(accounted, blocks.num_blocks()) << "step " << step_;
  // Only running sequences hold blocks: a waiting (preempted) or finished one has freed them.
  EXPECT_EQ(blocks.num_sequences(), s.num_seqs_running) << "step " << step_;
  EXPECT_EQ(s.num_requests_running + s.num_requests_waiting, in_flight) << "step " << step_;
  EXPECT_EQ(tenant_running, s.num_requests_running) << "step " << step_;
  EXPECT_EQ(tenant_waiting, s.num_requests_waiting) << "step " << step_;
  EXPECT_DOUBLE_EQ(s.kv_usage, usage) << "step " << step_;
  EXPECT_EQ(core_->idle(), in_flight == 0) << "step " << step_;
  return accounted == blocks.num_blocks() && blocks.num_sequences() == s.num_seqs_running &&
         s.num_requests_running + s.num_requests_waiting == in_flight &&
         tenant_running == s.num_requests_running && tenant_waiting == s.num_requests_waiting &&
         s.kv_usage == usage && core_->idle() == (in_flight == 0);
}

bool Simulation::CheckCounters() const {
  const SchedulerStats& s = core_->stats();
  TenantStats sum;
  for (const auto& [name, t] : s.tenants) {
    sum.requests_received += t.requests_received;
    sum.requests_rejected += t.requests_rejected;
    sum.requests_finished += t.requests_finished;
    sum.prompt_tokens += t.prompt_tokens;
    sum.generation_tokens += t.generation_tokens;
  }
  int64_t received = 0, rejected = 0, finished = 0, aborted = 0, tokens = 0;
  for (const auto& [id, t] : requests_) {
    const bool rejected_now = t.add_status.code() == absl::StatusCode::kResourceExhausted;
    received += t.add_status.ok() || rejected_now;
    rejected += rejected_now;
    finished += t.sink->num_final;
    aborted += t.sink->num_final > 0 && !t.sink->collected.status.ok();
    tokens += t.sink->tokens_received;
  }
  int64_t by_reason = 0;
  for (const auto& [reason, n] : s.requests_finished) by_reason += n;
  const auto abort_it = s.requests_finished.find("abort");
  const int64_t by_abort = abort_it == s.requests_finished.end() ? 0 : abort_it->second;
  const bool ok = sum.requests_received == received && sum.requests_rejected == rejected &&
                  s.requests_rejected_total == rejected && sum.requests_finished == finished &&
                  by_reason == finished && by_abort == aborted && sum.generation_tokens == tokens &&
                  s.generation_tokens_total == tokens && sum.prompt_tokens == s.prompt_tokens_total;
  EXPECT_TRUE(ok) << "step " << step_ << ": received " << sum.requests_received << "/" << received
                  << ", rejected " << sum.requests_rejected << "/" << s.requests_rejected_total
                  << "/" << rejected << ", finished " << sum.requests_finished << "/" << by_reason
                  << "/" << finished << ", aborted " << by_abort << "/" << aborted << ", generated "
                  << sum.generation_tokens << "/" << s.generation_tokens_total << "/" << tokens
                  << ", prompt " << sum.prompt_tokens << "/" << s.prompt_tokens_total;
  return ok;
}

bool Simulation::CheckOutcomes() const {
  // Each check also clears `ok`, so that the caller can stop at the first bad run (gtest's
  // HasFailure() would count every run of the test).
  bool ok = true;
  auto check = [&ok](bool condition) {
    ok = ok && condition;
    return condition;
  };
  int64_t prompt_ok = 0, prompt_all = 0;
  for (const auto& [id, t] : requests_) {
    SCOPED_TRACE("request " + id);
    const RecordingSink& sink = *t.sink;
    if (!t.add_status.ok()) {
      EXPECT_TRUE(check(t.add_status.code() == absl::StatusCode::kResourceExhausted))
          << t.add_status;
      EXPECT_TRUE(check(sink.num_updates == 0)) << "a refused request got updates";
      continue;
    }
    EXPECT_TRUE(check(sink.num_final == 1)) << sink.num_final << " final updates";
    EXPECT_TRUE(check(sink.updates_after_final == 0)) << "updates after the final one";
    if (!ok) return false;
    const CollectedRequest& c = sink.collected;
    const GenerateRequest& r = t.request;
    const int64_t prompt = static_cast<int64_t>(r.prompt_token_ids.size());
    prompt_all += prompt;
    const std::optional<absl::Time> deadline =
        r.timeout ? std::optional<absl::Time>(t.added + *r.timeout) : std::nullopt;
    if (t.cancelled) {
      EXPECT_TRUE(check(c.status.code() == absl::StatusCode::kCancelled)) << c.status;
    } else if (c.status.code() == absl::StatusCode::kDeadlineExceeded) {
      EXPECT_TRUE(check(deadline && *sink.final_time >= *deadline)) << "timed out early";
    } else {
      EXPECT_TRUE(check(c.status.ok())) << c.status;
      EXPECT_TRUE(check(!deadline || *sink.final_time < *deadline))
          << "finished OK past its deadline";
      prompt_ok += prompt;
    }
    EXPECT_TRUE(check(c.timings && c.timings->generated_tokens == sink.tokens_received))
        << "timings missing or not counting the tokens sent";
    EXPECT_TRUE(check(c.samples.size() <= static_cast<size_t>(r.n) &&
                      (!c.status.ok() || c.samples.size() == static_cast<size_t>(r.n))))
        << c.samples.size() << " samples of " << r.n;
    for (int32_t i = 0; i < static_cast<int32_t>(c.samples.size()); ++i) {
      const CollectedSample& got = c.samples[i];
      const ExpectedSample want = ExpectSample(*engine_, r, i);
      if (c.status.ok() || got.finish != FinishReason::kAbort) {
        // Finished on its own (even if the request was aborted later): the whole output.
        EXPECT_TRUE(check(got.token_ids == want.token_ids && got.finish == want.finish))
            << "sample " << i << ": got " << ::testing::PrintToString(got.token_ids) << " ("
            << (got.finish ? FinishReasonName(*got.finish) : "unfinished") << "), want "
            << ::testing::PrintToString(want.token_ids) << " (" << FinishReasonName(want.finish)
            << ")";
      } else {
        EXPECT_TRUE(check(IsPrefix(got.token_ids, want.token_ids)))
            << "sample " << i << ": got " << ::testing::PrintToString(got.token_ids)
            << ", not a prefix of " << ::testing::PrintToString(want.token_ids);
      }
    }
    if (!ok) return false;
  }
  // Prompt tokens count each prompt position once, recomputation excluded; aborted requests
  // may have computed part of theirs.
  const int64_t counted = core_->stats().prompt_tokens_total;
  EXPECT_TRUE(check(counted >= prompt_ok && counted <= prompt_all))
      << "prompt tokens " << counted << " outside [" << prompt_ok << ", " << prompt_all << "]";
  return ok;
}

}  // namespace tessera::testing
