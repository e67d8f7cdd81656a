#include "server/request_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tessera {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RequestLogTest, OneLineWithCountsTimesAndStatus) {
  RequestLogEntry e;
  e.id = "r-17";
  e.tenant = "acme";
  e.adapter = "sql";
  e.status = absl::StatusCode::kOk;
  RequestTimings t;
  t.prompt_tokens = 12;
  t.generated_tokens = 40;
  t.queue_time = absl::Microseconds(3100);
  t.time_to_first_token = absl::Microseconds(48200);
  t.e2e_latency = absl::Microseconds(512900);
  t.preemptions = 1;
  e.timings = t;
  EXPECT_EQ(FormatRequestLog(e),
            "tesserad: request id=r-17 tenant=acme adapter=sql prompt_tokens=12 output_tokens=40 "
            "queue_ms=3.1 ttft_ms=48.2 e2e_ms=512.9 preemptions=1 status=OK");
}

TEST(RequestLogTest, MissingValuesReadDash) {
  RequestLogEntry e;
  e.id = "x";
  e.status = absl::StatusCode::kCancelled;
  RequestTimings t;  // cancelled before its first token
  t.e2e_latency = absl::Milliseconds(2);
  e.timings = t;
  const std::string line = FormatRequestLog(e);
  EXPECT_THAT(line, HasSubstr("tenant=- adapter=- "));
  EXPECT_THAT(line, HasSubstr("ttft_ms=- "));
  EXPECT_THAT(line, HasSubstr("status=CANCELLED"));
  e.timings.reset();
  EXPECT_THAT(FormatRequestLog(e), HasSubstr("prompt_tokens=- output_tokens=- queue_ms=-"));
}

// A client chooses its request id: it must not be able to forge fields or start a new line.
TEST(RequestLogTest, IdsCannotForgeFieldsOrLines) {
  RequestLogEntry e;
  e.id = "a status=OK\ntesserad: request id=evil";
  e.tenant = "t";
  const std::string line = FormatRequestLog(e);
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  EXPECT_THAT(line, HasSubstr("id=\"a status=OK\\ntesserad: request id=evil\" tenant=t"));
}

}  // namespace
}  // namespace tessera
