// Output text and stop strings through the serving scheduler, on the tiny-llama fixture with its
// real tokenizer (llama2's sentencepiece-style BPE). Expected texts come from Tokenizer::Decode of
// whole id sequences, which the tokenizer tests check against Hugging Face.
#include <filesystem>
#include <memory>

#include "engine/cpu/cpu_engine.h"
#include "gtest/gtest.h"
#include "scheduler/clock.h"
#include "scheduler/offline_scheduler.h"
#include "scheduler/scheduler_core.h"
#include "tests/scheduler/scheduler_test_util.h"
#include "text/tokenizer/tokenizer.h"
#include "text/tokenizer/utf8.h"

namespace tessera {
namespace {

using ::tessera::testing::Driver;

class SchedulerTextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path dir =
        std::filesystem::path(TESSERA_FIXTURES_DIR) / "models" / "tiny-llama";
    if (!std::filesystem::exists(dir / "tokenizer.json")) GTEST_SKIP() << "no fixtures";
    CpuEngineOptions o;
    o.num_kv_blocks = 64;
    o.num_threads = 1;
    auto engine = CpuEngine::Load(dir.string(), o);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    auto tok = Tokenizer::Load(dir);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
    core_ = std::make_unique<SchedulerCore>(*engine_, tokenizer_.get(), clock_, SchedulerOptions{});
  }

  GenerateRequest Request(std::string id, int32_t max_tokens) {
    GenerateRequest r;
    r.id = std::move(id);
    r.prompt_token_ids = *tokenizer_->Encode("Once upon a time, in a land far away,", true);
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    return r;
  }

  // Runs one request alone; returns it with every update's text kept apart.
  CollectedRequest Run(const GenerateRequest& r, std::vector<std::string>* pieces = nullptr) {
    auto sink = std::make_shared<QueueSink>();
    EXPECT_TRUE(core_->Add(r, sink).ok());
    CollectedRequest c;
    while (!core_->idle()) {
      EXPECT_TRUE(core_->Step().ok());
      while (auto u = sink->Next(absl::ZeroDuration())) {
        for (const SampleDelta& d : u->samples) {
          if (pieces != nullptr && !d.text.empty()) pieces->push_back(d.text);
        }
        c.Add(*u);
      }
    }
    return c;
  }

  std::string Continuation(const GenerateRequest& r, const std::vector<int32_t>& output) {
    std::vector<int32_t> all = r.prompt_token_ids;
    all.insert(all.end(), output.begin(), output.end());
    const std::string whole = *tokenizer_->Decode(all, true);
    const std::string prompt = *tokenizer_->Decode(r.prompt_token_ids, true);
    EXPECT_EQ(whole.substr(0, prompt.size()), prompt);
    return whole.substr(prompt.size());
  }

  ManualClock clock_;
  std::unique_ptr<CpuEngine> engine_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<SchedulerCore> core_;
};

TEST_F(SchedulerTextTest, StreamedTextIsTheDecodedContinuation) {
  const GenerateRequest r = Request("a", 24);
  std::vector<std::string> pieces;
  const CollectedRequest c = Run(r, &pieces);
  ASSERT_TRUE(c.status.ok()) << c.status;
  ASSERT_EQ(c.samples[0].token_ids.size(), 24u);
  EXPECT_EQ(c.samples[0].text, Continuation(r, c.samples[0].token_ids));
  EXPECT_GT(pieces.size(), 1u);  // streamed, not all at the end
}

// Issue 14: greedy runs whose output has runs of byte-fallback tokens ("<0x7E><0xCC>..."), whose
// decode does not extend the decode of their prefix. Every piece must be whole UTF-8 characters
// (protobuf refuses anything else) and the pieces must add up to the decoded continuation.
struct ByteRunCase {
  const char* prompt;
  int32_t max_tokens;
};
constexpr ByteRunCase kByteRunCases[] = {{"Request 11 says", 300}, {"round 4 req 5", 200}};

TEST_F(SchedulerTextTest, OutputsWithByteRunsStreamWholeCharacters) {
  for (const ByteRunCase& k : kByteRunCases) {
    GenerateRequest r = Request(k.prompt, k.max_tokens);
    r.prompt_token_ids = *tokenizer_->Encode(k.prompt, true);
    std::vector<std::string> pieces;
    const CollectedRequest c = Run(r, &pieces);
    ASSERT_TRUE(c.status.ok()) << c.status;
    ASSERT_EQ(c.samples[0].token_ids.size(), static_cast<size_t>(k.max_tokens));
    for (const std::string& p : pieces) {
      EXPECT_EQ(tokenizer::FirstInvalidUtf8(p), std::string::npos) << k.prompt;
    }
    EXPECT_EQ(c.samples[0].text, Continuation(r, c.samples[0].token_ids)) << k.prompt;
  }
}

// The same through the offline runner (`tessera generate`), whose text is the pieces joined.
TEST_F(SchedulerTextTest, OfflineRunnerTextWithByteRunsIsTheDecodedContinuation) {
  OfflineScheduler offline(*engine_, {}, tokenizer_.get());
  std::vector<GenerateRequest> requests;
  for (const ByteRunCase& k : kByteRunCases) {
    requests.push_back(Request(k.prompt, k.max_tokens));
    requests.back().prompt_token_ids = *tokenizer_->Encode(k.prompt, true);
  }
  absl::StatusOr<std::vector<GenerateResult>> results = offline.Run(requests);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerateResult& g = (*results)[i];
    ASSERT_TRUE(g.status.ok()) << g.status;
    ASSERT_TRUE(g.text.has_value());
    EXPECT_EQ(tokenizer::FirstInvalidUtf8(*g.text), std::string::npos) << g.id;
    EXPECT_EQ(*g.text, Continuation(requests[i], g.output_token_ids)) << g.id;
  }
}

TEST_F(SchedulerTextTest, StopStringEndsTheTextBeforeItOrAfterIt) {
  const GenerateRequest base = Request("base", 24);
  const CollectedRequest full = Run(base);
  const std::string text = full.samples[0].text;
  ASSERT_GT(text.size(), 12u);
  // A stop string from the middle of the text, likely spanning tokens.
  const std::string stop = text.substr(text.size() / 2, 4);
  const size_t at = text.find(stop);
  for (bool include : {false, true}) {
    GenerateRequest r = Request(include ? "inc" : "exc", 24);
    r.stop = {"never appears \xF0\x9F\x98\x80", stop};
    r.include_stop_str_in_output = include;
    std::vector<std::string> pieces;
    const CollectedRequest c = Run(r, &pieces);
    ASSERT_TRUE(c.status.ok());
    EXPECT_EQ(c.samples[0].finish, FinishReason::kStop);
    EXPECT_EQ(c.samples[0].text, text.substr(0, include ? at + stop.size() : at));
    // The ids stop at the token that completed the stop string: a prefix of the full run's.
    const auto& ids = c.samples[0].token_ids;
    ASSERT_LT(ids.size(), full.samples[0].token_ids.size());
    EXPECT_TRUE(std::equal(ids.begin(), ids.end(), full.samples[0].token_ids.begin()));
    EXPECT_EQ(Continuation(r, ids).find(stop), at);
    // Nothing past the cut was ever streamed.
    std::string streamed;
    for (const std::string& p : pieces) streamed += p;
    EXPECT_EQ(streamed, c.samples[0].text);
  }
}

TEST_F(SchedulerTextTest, StopStringsWaitForMinTokens) {
  const CollectedRequest full = Run(Request("base", 24));
  const std::string text = full.samples[0].text;
  GenerateRequest r = Request("m", 24);
  r.stop = {text.substr(0, 3)};  // matches at once without min_tokens
  const CollectedRequest early = Run(r);
  EXPECT_EQ(early.samples[0].text, "");
  r.id = "m2";
  r.min_tokens = 24;
  const CollectedRequest late = Run(r);
  EXPECT_EQ(late.samples[0].finish, FinishReason::kLength);
  EXPECT_EQ(late.samples[0].text, text);
}

TEST_F(SchedulerTextTest, SamplesEachGetTheirOwnText) {
  GenerateRequest r = Request("n", 10);
  r.n = 3;
  r.sampling.temperature = 1.0f;
  r.seed = 9;
  const CollectedRequest c = Run(r);
  ASSERT_EQ(c.samples.size(), 3u);
  for (const CollectedSample& s : c.samples) {
    EXPECT_EQ(s.token_ids.size(), 10u);
    EXPECT_EQ(s.text, Continuation(r, s.token_ids));
  }
}

}  // namespace
}  // namespace tessera
