#include "client/bench_runner.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "tessera/v1/inference.grpc.pb.h"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;

// Common words, for prompts when the caller wants text rather than token ids (most tokenizers
// give one token per word with its leading space).
constexpr const char* kWords[] = {
    "the",  "of",    "and",   "to",    "in",   "is",    "it",   "that", "for",   "was",   "on",
    "are",  "with",  "as",    "at",    "be",   "this",  "have", "from", "or",    "one",   "had",
    "by",   "word",  "but",   "not",   "what", "all",   "were", "we",   "when",  "your",  "can",
    "said", "there", "use",   "an",    "each", "which", "she",  "do",   "how",   "their", "if",
    "will", "up",    "other", "about", "out",  "many",  "then", "them", "these", "so",    "some",
    "her",  "would", "make",  "like",  "him",  "into",  "time", "has",  "look"};

class LoadRun;

// One Generate call. Owns itself from Start to OnDone, where it hands its record back and
// deletes itself. gRPC runs its reactions one at a time, OnDone last.
class GenerateCall final : public ::grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  GenerateCall(LoadRun* run, size_t index, v1::GenerateRequest request, RequestRecord record)
      : run_(run), index_(index), request_(std::move(request)), record_(record) {}

  void Start(v1::Inference::Stub& stub, absl::Duration timeout, const std::string& api_key,
             Clock::time_point start) {
    start_ = start;
    if (timeout != absl::InfiniteDuration()) {
      context_.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    }
    if (!api_key.empty()) context_.AddMetadata("authorization", absl::StrCat("Bearer ", api_key));
    stub.async()->Generate(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended: OnDone follows with the status
    const double now = Seconds(Clock::now());
    int32_t tokens = 0;
    for (const v1::SampleDelta& d : response_.samples()) tokens += d.token_ids_size();
    if (tokens > 0) {
      if (record_.first_token_s < 0) record_.first_token_s = now;
      record_.last_token_s = now;
      record_.output_tokens += tokens;
    }
    if (response_.has_usage()) {
      usage_seen_ = true;
      record_.prompt_tokens = response_.usage().prompt_tokens();
    }
    StartRead(&response_);
  }

  void OnDone(const ::grpc::Status& status) override;

 private:
  double Seconds(Clock::time_point t) const {
    return std::chrono::duration<double>(t - start_).count();
  }

  LoadRun* const run_;
  const size_t index_;
  const v1::GenerateRequest request_;
  RequestRecord record_;
  ::grpc::ClientContext context_;
  v1::GenerateResponse response_;
  Clock::time_point start_;
  bool usage_seen_ = false;
};

class LoadRun {
 public:
  LoadRun(const std::shared_ptr<::grpc::Channel>& channel, const Workload& workload,
          const LoadRunOptions& options)
      : stub_(v1::Inference::NewStub(channel)),
        workload_(workload),
        options_(options),
        records_(workload.requests.size()) {}

  std::vector<RequestRecord> Run() {
    start_ = Clock::now();
    std::thread progress;
    if (options_.progress != nullptr) progress = std::thread([this] { PrintProgress(); });
    for (size_t i = 0; i < workload_.requests.size(); ++i) {
      const PlannedRequest& plan = workload_.requests[i];
      const Clock::time_point due = start_ + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(plan.arrival_s));
      std::this_thread::sleep_until(due);
      Issue(i, plan);
    }
    {
      absl::MutexLock lock(&mu_);
      sending_done_ = true;
      mu_.Await(absl::Condition(
          +[](int64_t* in_flight) { return *in_flight == 0; }, &in_flight_));
    }
    if (progress.joinable()) progress.join();
    return std::move(records_);
  }

  // From GenerateCall::OnDone, on a gRPC thread.
  void Finished(size_t index, const RequestRecord& record) {
    records_[index] = record;  // each index is written by its one call only
    (record.code == absl::StatusCode::kOk ? done_ : failed_).fetch_add(1);
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }

 private:
  double Now() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  void Issue(size_t i, const PlannedRequest& plan) {
    RequestRecord record;
    record.scheduled_s = plan.arrival_s;
    // Built after the wait, so that a request's contents cost no memory before it is due.
    v1::GenerateRequest request = BuildBenchRequest(plan, i, options_);
    record.sent_s = Now();
    last_sent_s_.store(record.sent_s);
    lag_ms_.store((record.sent_s - plan.arrival_s) * 1000);
    const std::string& key =
        plan.tenant_id >= 0 && !workload_.tenants[plan.tenant_id].api_key.empty()
            ? workload_.tenants[plan.tenant_id].api_key
            : options_.api_key;
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
    }
    sent_.fetch_add(1);
    auto* call = new GenerateCall(this, i, std::move(request), record);
    call->Start(*stub_, options_.request_timeout, key, start_);
  }

  // One line per interval: on a terminal rewritten in place, else appended.
  void PrintProgress() {
    const bool tty = isatty(fileno(stderr)) != 0 && options_.progress == &std::cerr;
    const char* end = tty ? "\r" : "\n";
    absl::MutexLock lock(&mu_);
    while (true) {
      const bool finished =
          mu_.AwaitWithTimeout(absl::Condition(
                                   +[](LoadRun* run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run->mu_) {
                                     return run->sending_done_ && run->in_flight_ == 0;
                                   },
                                   this),
                               options_.progress_interval);
      const double t = Now();
      const int64_t sent = sent_.load();
      // The rate requests went out at, up to the last one (not diluted by the drain after it).
      const double send_span = sending_done_ ? last_sent_s_.load() : t;
      *options_.progress << absl::StrFormat(
                                "[%s] %6.1f s  sent %d/%d (%.2f req/s)  in flight %d  done %d  "
                                "errors %d  lag %.1f ms   ",
                                options_.progress_label, t, sent, workload_.requests.size(),
                                send_span > 0 ? sent / send_span : 0.0, in_flight_, done_.load(),
                                failed_.load(), lag_ms_.load())
                         << end << std::flush;
      if (finished) break;
    }
    if (tty) *options_.progress << "\n" << std::flush;
  }

  const std::unique_ptr<v1::Inference::Stub> stub_;
  const Workload& workload_;
  const LoadRunOptions& options_;
  std::vector<RequestRecord> records_;
  Clock::time_point start_;
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<double> lag_ms_{0};  // of the latest request sent
  std::atomic<double> last_sent_s_{0};
  absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool sending_done_ ABSL_GUARDED_BY(mu_) = false;
};

void GenerateCall::OnDone(const ::grpc::Status& status) {
  record_.end_s = Seconds(Clock::now());
  if (!status.ok()) {
    // gRPC and absl share the canonical code numbering.
    record_.code = static_cast<absl::StatusCode>(status.error_code());
    record_.error = status.error_message();
  } else if (!usage_seen_) {
    record_.code = absl::StatusCode::kInternal;
    record_.error = "the stream ended without its final message (the one with usage)";
  }
  run_->Finished(index_, record_);
  delete this;
}

}  // namespace

v1::GenerateRequest BuildBenchRequest(const PlannedRequest& plan, size_t index,
                                      const LoadRunOptions& o) {
  v1::GenerateRequest r;
  r.set_request_id(absl::StrCat(o.request_id_prefix, "-", index));
  // A generator per request: its prompt depends on (seed, index) only, whatever order the
  // requests are built in.
  std::seed_seq seq{o.seed, uint64_t{index}};
  std::mt19937_64 rng(seq);
  if (!plan.prompt_text.empty()) {
    r.set_text(plan.prompt_text);
  } else if (o.text_prompts) {
    std::uniform_int_distribution<size_t> word(0, std::size(kWords) - 1);
    std::string text;
    for (int32_t i = 0; i < plan.prompt_tokens; ++i) {
      if (i > 0) text += ' ';
      text += kWords[word(rng)];
    }
    r.set_text(std::move(text));
  } else {
    std::uniform_int_distribution<int32_t> id(
        kFirstRandomTokenId, static_cast<int32_t>(std::max<int64_t>(o.vocab_size, 4) - 1));
    for (int32_t i = 0; i < plan.prompt_tokens; ++i) r.add_token_ids(id(rng));
  }
  r.set_max_tokens(plan.output_tokens);
  r.set_min_tokens(plan.output_tokens);
  r.set_ignore_eos(true);
  r.set_adapter(plan.adapter);
  r.set_priority(plan.priority);
  r.set_ttft_target_ms(plan.ttft_target_ms);
  r.set_tpot_target_ms(plan.tpot_target_ms);
  return r;
}

std::vector<RequestRecord> RunLoad(const std::shared_ptr<::grpc::Channel>& channel,
                                   const Workload& workload, const LoadRunOptions& options) {
  return LoadRun(channel, workload, options).Run();
}

}  // namespace tessera
