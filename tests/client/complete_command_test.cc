#include "client/complete_command.h"

#include "absl/time/clock.h"
#include "client/complete_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/raw_generate_server.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(BuildCompleteRequestTest, SetsOnlyTheFieldsGiven) {
  CompleteCommandOptions o;
  o.prompt = "Hi";
  absl::StatusOr<v1::GenerateRequest> r = BuildCompleteRequest(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text(), "Hi");
  EXPECT_FALSE(r->has_max_tokens());
  EXPECT_FALSE(r->has_temperature());
  EXPECT_EQ(r->seed(), 0u);
  EXPECT_FALSE(r->has_n());
  EXPECT_EQ(r->priority(), v1::PRIORITY_UNSPECIFIED);
}

TEST(BuildCompleteRequestTest, MapsEveryFlag) {
  CompleteCommandOptions o;
  o.token_ids = "1, 450,4996";
  o.max_tokens = 8;
  o.temperature = 0.7f;
  o.top_p = 0.9f;
  o.top_k = 40;
  o.seed = 42;
  o.stop = {"\n", "END"};
  o.n = 2;
  o.logprobs = 3;
  o.prompt_logprobs = 1;
  o.priority = "batch";
  o.adapter = "sql";
  o.request_id = "req-1";
  absl::StatusOr<v1::GenerateRequest> r = BuildCompleteRequest(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->token_ids(), ElementsAre(1, 450, 4996));
  EXPECT_EQ(r->text(), "");
  EXPECT_EQ(r->max_tokens(), 8);
  EXPECT_FLOAT_EQ(r->temperature(), 0.7f);
  EXPECT_FLOAT_EQ(r->top_p(), 0.9f);
  EXPECT_EQ(r->top_k(), 40);
  EXPECT_EQ(r->seed(), 42u);
  EXPECT_THAT(r->stop(), ElementsAre("\n", "END"));
  EXPECT_EQ(r->n(), 2);
  EXPECT_EQ(r->logprobs(), 3);
  EXPECT_EQ(r->prompt_logprobs(), 1);
  EXPECT_EQ(r->priority(), v1::PRIORITY_BATCH);
  EXPECT_EQ(r->adapter(), "sql");
  EXPECT_EQ(r->request_id(), "req-1");
}

// Unset flags stay unset on the wire (the server applies the model's defaults); --seed 0 is a seed.
TEST(BuildCompleteRequestTest, UnsetFlagsStayUnsetAndSeedZeroIsSent) {
  CompleteCommandOptions o;
  o.token_ids = "1";
  absl::StatusOr<v1::GenerateRequest> r = BuildCompleteRequest(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_seed());
  EXPECT_FALSE(r->has_top_k());
  EXPECT_FALSE(r->has_temperature());
  EXPECT_FALSE(r->has_max_tokens());
  o.seed = 0;
  o.top_k = -1;
  r = BuildCompleteRequest(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->has_seed());
  EXPECT_EQ(r->seed(), 0u);
  EXPECT_EQ(r->top_k(), -1);
}

TEST(BuildCompleteRequestTest, RejectsBadPrompts) {
  CompleteCommandOptions neither;
  EXPECT_EQ(BuildCompleteRequest(neither).status().code(), absl::StatusCode::kInvalidArgument);
  CompleteCommandOptions both;
  both.prompt = "a";
  both.token_ids = "1";
  EXPECT_EQ(BuildCompleteRequest(both).status().code(), absl::StatusCode::kInvalidArgument);
  CompleteCommandOptions bad_id;
  bad_id.token_ids = "1,x";
  EXPECT_THAT(BuildCompleteRequest(bad_id).status().message(), HasSubstr("\"x\""));
  CompleteCommandOptions negative;
  negative.token_ids = "-3";
  EXPECT_EQ(BuildCompleteRequest(negative).status().code(), absl::StatusCode::kInvalidArgument);
  CompleteCommandOptions only_commas;
  only_commas.token_ids = ",,";
  EXPECT_EQ(BuildCompleteRequest(only_commas).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BuildCompleteRequestTest, StreamedTextShowsOneSample) {
  CompleteCommandOptions o;
  o.prompt = "a";
  o.stream = true;
  o.n = 2;
  EXPECT_EQ(BuildCompleteRequest(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.json = true;
  EXPECT_TRUE(BuildCompleteRequest(o).ok());
}

TEST(GenerateOutputJsonTest, OneSample) {
  GenerateOutput out;
  out.request_id = "r";
  out.samples.resize(1);
  out.samples[0].text = "Hello";
  out.samples[0].token_ids = {5, 6};
  out.samples[0].finish_reason = v1::FINISH_REASON_STOP;
  out.samples[0].stop_string = "\n";
  out.usage.set_prompt_tokens(3);
  out.usage.set_completion_tokens(2);
  EXPECT_EQ(GenerateOutputJson(out).dump(),
            R"({"request_id":"r","text":"Hello","token_ids":[5,6],"finish_reason":"stop",)"
            R"("stop_string":"\n","logprobs":null,"prompt_logprobs":null,"usage":)"
            R"({"prompt_tokens":3,"completion_tokens":2,"queue_seconds":0.0,)"
            R"("time_to_first_token_seconds":0.0,"e2e_seconds":0.0,"preemptions":0}})");
}

TEST(GenerateOutputJsonTest, SamplesAndLogprobs) {
  GenerateOutput out;
  out.samples.resize(2);
  out.samples[1].finish_reason = v1::FINISH_REASON_LENGTH;
  v1::PositionLogprobs p;
  p.mutable_chosen()->set_token_id(7);
  p.mutable_chosen()->set_logprob(-0.5f);
  p.mutable_chosen()->set_token("a");
  p.add_top()->set_token_id(7);
  out.samples[0].logprobs = {p};
  out.prompt_logprobs = {v1::PositionLogprobs(), p};
  const nlohmann::ordered_json j = GenerateOutputJson(out);
  ASSERT_EQ(j["samples"].size(), 2u);
  EXPECT_EQ(j["samples"][1]["finish_reason"], "length");
  EXPECT_EQ(j["finish_reason"], nullptr);
  EXPECT_EQ(j["logprobs"].dump(),
            R"([{"token_id":7,"logprob":-0.5,"token":"a","top":[{"token_id":7,"logprob":0.0}]}])");
  EXPECT_EQ(j["prompt_logprobs"][0], nullptr);
  EXPECT_EQ(j["prompt_logprobs"][1]["token_id"], 7);
}

// A final message, as a server ends a stream.
std::string FinalMessage(const std::string& text) {
  v1::GenerateResponse r;
  v1::SampleDelta* d = r.add_samples();
  d->set_text(text);
  d->set_finish_reason(v1::FINISH_REASON_LENGTH);
  r.mutable_usage()->set_completion_tokens(1);
  return r.SerializeAsString();
}

TEST(CompleteCommandTest, TheCallHasADeadlineUnlessTimeoutIsZero) {
  RawGenerateServer server({FinalMessage("done")}, ::grpc::Status::OK);
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{}, {"--timeout", "0"}, {"--timeout", "2.5"}}) {
    CLI::App app;
    int exit_code = -1;
    AddCompleteCommand(app, &exit_code);
    std::vector<std::string> args = {"tessera",        "complete", "--server",
                                     server.address(), "--prompt", "Hi"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    ::testing::internal::CaptureStdout();
    app.parse(static_cast<int>(argv.size()), argv.data());
    EXPECT_EQ(::testing::internal::GetCapturedStdout(), "done\n");
    EXPECT_EQ(exit_code, 0);
    const double timeout = app.get_subcommand("complete")->get_option("--timeout")->as<double>();
    EXPECT_EQ(timeout, flags.empty() ? kCompleteTimeoutSeconds : std::stod(flags[1]));
  }
}

// Issue 14: a response the client cannot parse (here a text field that is not valid UTF-8,
// followed by more messages) ends `tessera complete` at once with INTERNAL, streaming or not.
TEST(CompleteCommandTest, AResponseThatCannotBeParsedFailsAtOnce) {
  v1::GenerateResponse bad;
  bad.add_samples()->set_text("@@@@");
  RawGenerateServer server({SerializedWithBytes(bad, "@@@@", "\xBF\xBD\xEF\xBF"), FinalMessage("")},
                           ::grpc::Status::OK);
  for (bool stream : {false, true}) {
    CompleteCommandOptions o;
    o.connection.server = server.address();
    o.connection.timeout_seconds = 30;  // a broken build runs into it instead of hanging
    o.prompt = "Hi";
    o.stream = stream;
    const absl::Time start = absl::Now();
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int exit_code = RunComplete(o);
    ::testing::internal::GetCapturedStdout();
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(exit_code, 1);
    EXPECT_THAT(err, HasSubstr("INTERNAL")) << err;
    EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "stream " << stream;
  }
}

}  // namespace
}  // namespace tessera
