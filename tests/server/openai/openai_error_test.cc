// OpenAI's error shape and statuses, and request bodies that are not JSON objects.
#include "server/openai/openai_error.h"

#include <string>

#include "gtest/gtest.h"
#include "server/openai/json_body.h"

namespace tessera::openai {
namespace {

TEST(OpenAiError, ToJsonHasOpenAisShapeWithNullParamAndCode) {
  OpenAiError e{400, "temperature must be in [0, 2]", "invalid_request_error", "", ""};
  EXPECT_EQ(ToJson(e), nlohmann::json::parse(R"({"error": {"message":
      "temperature must be in [0, 2]", "type": "invalid_request_error", "param": null,
      "code": null}})"));
  e.param = "temperature";
  e.code = "bad";
  EXPECT_EQ(ToJson(e)["error"]["param"], "temperature");
  EXPECT_EQ(ToJson(e)["error"]["code"], "bad");
}

TEST(OpenAiError, StatusCodesMapToOpenAisHttpStatuses) {
  struct Case {
    absl::Status status;
    int http;
    std::string type;
  };
  const Case cases[] = {
      {absl::InvalidArgumentError("x"), 400, "invalid_request_error"},
      {absl::OutOfRangeError("x"), 400, "invalid_request_error"},
      {absl::FailedPreconditionError("x"), 400, "invalid_request_error"},
      {absl::UnauthenticatedError("x"), 401, "authentication_error"},
      {absl::PermissionDeniedError("x"), 403, "permission_error"},
      {absl::NotFoundError("x"), 404, "not_found_error"},
      {absl::ResourceExhaustedError("x"), 429, "rate_limit_error"},
      {absl::UnavailableError("x"), 503, "service_unavailable_error"},
      {absl::DeadlineExceededError("x"), 504, "timeout_error"},
      {absl::InternalError("x"), 500, "server_error"},
      {absl::UnknownError("x"), 500, "server_error"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    const OpenAiError e = FromStatus(c.status);
    EXPECT_EQ(e.http_status, c.http);
    EXPECT_EQ(e.type, c.type);
    EXPECT_EQ(e.message, "x");
  }
}

TEST(OpenAiError, ParamTravelsInTheStatus) {
  const absl::Status s = InvalidParam("top_p", "top_p must be in (0, 1], not 0");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParamOf(s), "top_p");
  const OpenAiError e = FromStatus(s);
  EXPECT_EQ(e.param, "top_p");
  EXPECT_EQ(e.message, "top_p must be in (0, 1], not 0");
  EXPECT_EQ(FromStatus(s, "other").param, "other");
  EXPECT_EQ(ParamOf(absl::InvalidArgumentError("x")), "");
}

TEST(OpenAiError, UnknownModelIsOpenAisModelNotFound) {
  const OpenAiError e = ModelNotFound("gpt-5");
  EXPECT_EQ(e.http_status, 404);
  EXPECT_EQ(e.message, "The model `gpt-5` does not exist.");
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_EQ(e.type, "invalid_request_error");
}

TEST(OpenAiError, BodyTooLargeIs413) {
  const OpenAiError e = BodyTooLarge(5000000, 4194304);
  EXPECT_EQ(e.http_status, 413);
  EXPECT_EQ(e.message, "the request body is 5000000 bytes, over the limit of 4194304 bytes");
}

TEST(JsonBody, ParsesObjectsKeepingKeyOrder) {
  absl::StatusOr<nlohmann::ordered_json> j = ParseJsonBody(R"({"z": 1, "a": {"y": 2, "b": 3}})");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->dump(), R"({"z":1,"a":{"y":2,"b":3}})");
}

TEST(JsonBody, RefusesWhatIsNotAJsonObject) {
  EXPECT_EQ(ParseJsonBody("{\"a\": ").status().message(),
            "the request body is not valid JSON (at byte 7)");
  EXPECT_EQ(ParseJsonBody("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJsonBody("[1, 2]").status().message(),
            "the request body must be a JSON object, not array");
  EXPECT_EQ(ParseJsonBody("\"hi\"").status().message(),
            "the request body must be a JSON object, not string");
  EXPECT_EQ(ParseJsonBody("{\"a\": \"\xff\"}").status().code(),
            absl::StatusCode::kInvalidArgument);  // not UTF-8
}

TEST(JsonBody, RefusesNumbersOutOfRange) {
  // nlohmann throws out_of_range (not parse_error) for these; found by openai_request_fuzz.
  EXPECT_EQ(ParseJsonBody("{\"a\": 1e999}").status().message(),
            "the request body is not valid JSON (number out of range)");
  EXPECT_EQ(ParseJsonBody("{\"a\": [1, -1e400]}").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JsonBody, RefusesDeepNesting) {
  const std::string deep = "{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(ParseJsonBody(deep).status().message(),
            "the request body nests deeper than 256 levels");
  const std::string ok = "{\"a\": " + std::string(200, '[') + std::string(200, ']') + "}";
  EXPECT_TRUE(ParseJsonBody(ok).ok());
}

TEST(JsonBody, SerializeNeverThrowsOnBadUtf8) {
  nlohmann::ordered_json j;
  j["text"] = std::string("a\xff");
  j["n"] = 1;
  EXPECT_EQ(SerializeJson(j), "{\"text\":\"a\xEF\xBF\xBD\",\"n\":1}");
}

}  // namespace
}  // namespace tessera::openai
