#include "server/process_age.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

TEST(ProcessAgeTest, ParsesStartTimeAfterACommandNameWithSpacesAndParentheses) {
  // Fields 3..22 after "(name)": the start time (field 22) is 4242.
  const char line[] =
      "1234 (tess (era) d) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 7 0 4242 123456 "
      "789 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  absl::StatusOr<uint64_t> ticks = ParseProcStatStartTicks(line);
  ASSERT_TRUE(ticks.ok()) << ticks.status();
  EXPECT_EQ(*ticks, 4242u);
}

TEST(ProcessAgeTest, RefusesLinesOfAnotherShape) {
  EXPECT_FALSE(ParseProcStatStartTicks("").ok());
  EXPECT_FALSE(ParseProcStatStartTicks("1234 no-parentheses S 1").ok());
  EXPECT_FALSE(ParseProcStatStartTicks("1234 (short) S 1 2 3").ok());
  absl::StatusOr<uint64_t> bad =
      ParseProcStatStartTicks("1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 notanumber 1 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("field 22"), std::string::npos) << bad.status();
}

TEST(ProcessAgeTest, ThisProcessIsYoungerThanADayAndNotNegative) {
  absl::StatusOr<double> age = ProcessAgeSeconds();
  ASSERT_TRUE(age.ok()) << age.status();
  EXPECT_GE(*age, 0);
  EXPECT_LT(*age, 86400);
}

}  // namespace
}  // namespace tessera
