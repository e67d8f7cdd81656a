// /v1/models, /tokenize, /detokenize, the LoRA routes' bodies and the gateway's headers.
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/openai/gateway_headers.h"
#include "server/openai/lora_requests.h"
#include "server/openai/models.h"
#include "server/openai/openai_error.h"
#include "server/openai/tokenize.h"
#include "tests/server/openai/fixture_templates.h"

namespace tessera::openai {
namespace {

using Json = nlohmann::ordered_json;

std::string ErrorOf(const absl::Status& s) {
  return s.ok() ? "ok" : ParamOf(s) + ": " + std::string(s.message());
}

TEST(ModelListJson, BaseModelThenAdaptersWithParent) {
  ModelListing listing;
  listing.served_name = "tiny";
  listing.root = "/models/tiny";
  listing.max_model_len = 2048;
  listing.created = 1700000000;
  listing.adapters = {{"sql", "/adapters/sql"}};
  Json out = ModelListJson(listing);
  ASSERT_EQ(out["data"].size(), 2u);
  for (Json& card : out["data"]) {
    ASSERT_EQ(card["permission"].size(), 1u);
    EXPECT_EQ(card["permission"][0]["object"], "model_permission");
    card.erase("permission");
  }
  EXPECT_EQ(out, Json::parse(R"({"object": "list", "data": [
      {"id": "tiny", "object": "model", "created": 1700000000, "owned_by": "tessera",
       "root": "/models/tiny", "parent": null, "max_model_len": 2048},
      {"id": "sql", "object": "model", "created": 1700000000, "owned_by": "tessera",
       "root": "/adapters/sql", "parent": "tiny", "max_model_len": null}]})"));
}

TEST(Tokenize, PromptBodies) {
  absl::StatusOr<TokenizeCall> call =
      ParseTokenizeRequest(Json::parse(R"({"model": "tiny", "prompt": "Hello"})"), nullptr);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->model, "tiny");
  EXPECT_EQ(call->text, "Hello");
  EXPECT_TRUE(call->add_special_tokens);
  EXPECT_FALSE(call->return_token_strs);
  call = ParseTokenizeRequest(
      Json::parse(R"({"prompt": "x", "add_special_tokens": false, "return_token_strs": true})"),
      nullptr);
  ASSERT_TRUE(call.ok());
  EXPECT_FALSE(call->add_special_tokens);
  EXPECT_TRUE(call->return_token_strs);

  EXPECT_EQ(ErrorOf(ParseTokenizeRequest(Json::parse(R"({"model": "m"})"), nullptr).status()),
            ": send exactly one of prompt and messages");
  EXPECT_EQ(ErrorOf(ParseTokenizeRequest(Json::parse(R"({"prompt": 1})"), nullptr).status()),
            "prompt: prompt must be a string, not an integer");
  EXPECT_EQ(ErrorOf(ParseTokenizeRequest(
                        Json::parse(R"({"messages": [{"role": "user", "content": "x"}]})"), nullptr)
                        .status()),
            "messages: this model has no chat template: send prompt instead");
}

TEST(Tokenize, MessagesRenderThroughTheTemplate) {
  std::optional<testing::FixtureFile> f = testing::LoadFixtureFile("qwen2_5");
  if (!f) GTEST_SKIP() << "no qwen2_5 fixture";
  const chat_template::ChatTemplate tmpl = testing::TemplateOf(*f);
  for (const Json& c : f->json["cases"]) {
    if (c["name"] != "a_system_user") continue;
    Json body;
    body["messages"] = c["messages"];
    body["add_generation_prompt"] = c["add_generation_prompt"];
    absl::StatusOr<TokenizeCall> call = ParseTokenizeRequest(body, &tmpl);
    ASSERT_TRUE(call.ok()) << call.status();
    EXPECT_EQ(call->text, c["expected"].get<std::string>());
    EXPECT_FALSE(call->add_special_tokens);  // the template holds BOS
  }
}

TEST(Tokenize, ResponseShapes) {
  EXPECT_EQ(TokenizeResponseJson({1, 2}, 2048),
            Json::parse(R"({"count": 2, "max_model_len": 2048, "tokens": [1, 2],
                            "token_strs": null})"));
  EXPECT_EQ(TokenizeResponseJson({1}, 8, std::vector<std::string>{"<s>"})["token_strs"],
            Json::parse(R"(["<s>"])"));
  EXPECT_EQ(DetokenizeResponseJson("Hi"), Json::parse(R"({"prompt": "Hi"})"));
}

TEST(Detokenize, Bodies) {
  absl::StatusOr<DetokenizeCall> call =
      ParseDetokenizeRequest(Json::parse(R"({"model": "tiny", "tokens": [1, 2, 3]})"));
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(ErrorOf(ParseDetokenizeRequest(Json::parse(R"({})")).status()),
            "tokens: tokens is required");
  EXPECT_EQ(ErrorOf(ParseDetokenizeRequest(Json::parse(R"({"tokens": "abc"})")).status()),
            "tokens: tokens must be an array of token ids, not a string");
  EXPECT_EQ(ErrorOf(ParseDetokenizeRequest(Json::parse(R"({"tokens": [1, 3000000000]})")).status()),
            "tokens: tokens[1] must be an integer in [0, 2147483647], not 3000000000");
}

TEST(LoraRequests, VllmBodies) {
  absl::StatusOr<LoadLoraCall> load = ParseLoadLoraRequest(
      Json::parse(R"({"lora_name": "sql", "lora_path": "/adapters/sql", "lora_int_id": 3})"));
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->lora_name, "sql");
  EXPECT_EQ(load->lora_path, "/adapters/sql");
  EXPECT_EQ(ErrorOf(ParseLoadLoraRequest(Json::parse(R"({"lora_name": "sql"})")).status()),
            "lora_path: lora_path is required");
  EXPECT_EQ(
      ErrorOf(ParseLoadLoraRequest(Json::parse(R"({"lora_name": "", "lora_path": "p"})")).status()),
      "lora_name: lora_name is required");
  EXPECT_EQ(
      ErrorOf(ParseLoadLoraRequest(Json::parse(R"({"lora_name": 1, "lora_path": "p"})")).status()),
      "lora_name: lora_name must be a string, not an integer");
  absl::StatusOr<UnloadLoraCall> unload =
      ParseUnloadLoraRequest(Json::parse(R"({"lora_name": "sql"})"));
  ASSERT_TRUE(unload.ok());
  EXPECT_EQ(unload->lora_name, "sql");
  EXPECT_EQ(ErrorOf(ParseUnloadLoraRequest(Json::parse(R"([])")).status()),
            ": the request body must be a JSON object");
  EXPECT_EQ(LoadLoraSuccessText("sql"), "Success: LoRA adapter 'sql' added successfully.");
  EXPECT_EQ(UnloadLoraSuccessText("sql"), "Success: LoRA adapter 'sql' removed successfully.");
}

using Headers = std::vector<std::pair<std::string, std::string>>;

TEST(GatewayHeaders, LlmdNamesAndAliases) {
  absl::StatusOr<GatewayHeaders> h =
      ParseGatewayHeaders(Headers{{"X-LLM-D-Inference-Fairness-Id", "team-a"},
                                  {"x-llm-d-slo-ttft-ms", " 250 "},
                                  {"x-llm-d-slo-tpot-ms", "40"},
                                  {"x-request-id", "abc"},
                                  {"content-type", "application/json"}});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->fairness_id, "team-a");
  EXPECT_EQ(h->ttft_ms, 250u);
  EXPECT_EQ(h->tpot_ms, 40u);
  EXPECT_EQ(h->request_id, "abc");

  h = ParseGatewayHeaders(Headers{{"x-gateway-inference-fairness-id", "old"},
                                  {"x-slo-ttft-ms", "100"},
                                  {"x-slo-tpot-ms", "20"}});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->fairness_id, "old");
  EXPECT_EQ(h->ttft_ms, 100u);
  EXPECT_EQ(h->tpot_ms, 20u);

  // The llm-d name wins over its alias, in either order.
  for (const Headers& both : {Headers{{"x-slo-ttft-ms", "100"}, {"x-llm-d-slo-ttft-ms", "300"}},
                              Headers{{"x-llm-d-slo-ttft-ms", "300"}, {"x-slo-ttft-ms", "100"}}}) {
    h = ParseGatewayHeaders(both);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->ttft_ms, 300u);
  }
  h = ParseGatewayHeaders(Headers{});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->fairness_id, "");
  EXPECT_EQ(h->ttft_ms, 0u);
}

TEST(GatewayHeaders, BadNumbersNameTheHeader) {
  EXPECT_EQ(ErrorOf(ParseGatewayHeaders(Headers{{"x-llm-d-slo-ttft-ms", "fast"}}).status()),
            "x-llm-d-slo-ttft-ms: header x-llm-d-slo-ttft-ms: \"fast\" is not a whole number of "
            "milliseconds in [0, 3600000]");
  EXPECT_EQ(ErrorOf(ParseGatewayHeaders(Headers{{"x-slo-tpot-ms", "-5"}}).status()),
            "x-slo-tpot-ms: header x-slo-tpot-ms: \"-5\" is not a whole number of milliseconds "
            "in [0, 3600000]");
  EXPECT_FALSE(ParseGatewayHeaders(Headers{{"x-slo-tpot-ms", "1.5"}}).ok());
  EXPECT_FALSE(ParseGatewayHeaders(Headers{{"x-slo-tpot-ms", ""}}).ok());
  EXPECT_FALSE(ParseGatewayHeaders(Headers{{"x-slo-tpot-ms", "3600001"}}).ok());
  EXPECT_FALSE(ParseGatewayHeaders(Headers{{"x-slo-tpot-ms", "99999999999999999999999"}}).ok());
  EXPECT_EQ(
      ErrorOf(ParseGatewayHeaders(Headers{{"x-llm-d-inference-fairness-id", std::string(257, 'a')}})
                  .status()),
      "x-llm-d-inference-fairness-id: header x-llm-d-inference-fairness-id is longer than "
      "256 bytes");
}

}  // namespace
}  // namespace tessera::openai
